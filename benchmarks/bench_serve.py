"""Throughput of the demo sources: a bare `requests` loop per resource against a generated world.

    .venv/bin/python benchmarks/bench_serve.py --persons 100000

Starts `SourceServer` on a generated world (faults off) and, per resource, fetches every page with
a plain `requests.Session`, decoding the JSON and nothing else. Prints records/s and pages/s.
`bare_fetch(base_url, key, credentials)` is the reusable unit (the connector side goes beside it).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from c360.settings import SourceCredentials  # noqa: E402
from demo_sources.testing import auth_headers  # noqa: E402
from demo_sources.world import ACCOUNTING_WINDOW  # noqa: E402

RESOURCE_KEYS = (
    "shop/customers", "shop/orders", "shop/checkouts",
    "erp/res.partner", "erp/sale.order", "erp/sale.order.line", "erp/product.product",
    "helpdesk/users", "helpdesk/tickets",
    # Lexware has no payments list: a payment state is one request per voucher, not a paged export
    "accounting/contacts", "accounting/vouchers",
)
ERP_PAGE = 500


def bare_fetch(base_url: str, key: str, credentials: SourceCredentials, stats: dict | None = None) -> tuple[int, float]:
    """Fetch every record of `key` with a bare session loop; returns (records, seconds).

    `base_url` is the server root (`http://127.0.0.1:8765`); `stats`, if given, gets `pages`.
    """
    system, resource = key.split("/")
    session = requests.Session()
    session.headers.update(auth_headers(system, credentials))
    root = f"{base_url.rstrip('/')}/{system}"
    records = pages = 0
    started = time.perf_counter()

    def get(url, **kwargs):
        nonlocal pages
        response = session.request(kwargs.pop("method", "GET"), url, timeout=60, **kwargs)
        response.raise_for_status()
        pages += 1
        return response

    if system == "shop":
        url = f"{root}/admin/api/2024-10/{resource}.json"
        params: dict | None = {"limit": 250, "updated_at_min": "1970-01-01T00:00:00+00:00"}
        if resource == "orders":
            params["status"] = "any"
        while url:
            response = get(url, params=params)
            records += len(response.json()[resource])
            nxt = response.links.get("next")
            url, params = (nxt["url"], None) if nxt else (None, None)
    elif system == "erp":
        start = [["write_date", ">=", "1970-01-01 00:00:00"]]
        domain = start
        while True:
            page = get(f"{root}/json/2/{resource}/search_read", method="POST", json={
                "domain": domain, "offset": 0, "limit": ERP_PAGE, "order": "write_date asc, id asc",
                "context": {"active_test": False},
            }).json()
            records += len(page)
            if len(page) < ERP_PAGE:
                break
            w, i = page[-1]["write_date"], page[-1]["id"]
            domain = ["&", *start, "|", ["write_date", ">", w], "&", ["write_date", "=", w], ["id", ">", i]]
    elif system == "helpdesk":
        url, params = f"{root}/api/v2/incremental/{resource}/cursor.json", {"start_time": 0}
        while True:
            body = get(url, params=params).json()
            records += len(body[resource])
            if body["end_of_stream"]:
                break
            url, params = body["after_url"], None
    elif resource == "contacts":
        page = 0
        while True:
            body = get(f"{root}/v1/contacts", params={"page": page, "size": 250}).json()
            records += len(body["content"])
            if body["last"]:
                break
            page += 1
    else:
        endpoint = "voucherlist"
        extra = {"voucherType": "salesinvoice,salescreditnote", "voucherStatus": "any"}
        today = datetime.fromisoformat(session.get(f"{base_url.rstrip('/')}/_admin/state", timeout=60).json()["now"]).date()
        windows = [(date(2000, 1, 1), today + timedelta(days=1))]
        while windows:
            lo, hi = windows.pop(0)
            page = 0
            while True:
                body = get(f"{root}/v1/{endpoint}", params={
                    "updatedDateFrom": lo.isoformat(), "updatedDateTo": hi.isoformat(), "page": page, "size": 250,
                    **extra,
                }).json()
                if page == 0 and body["totalElements"] > ACCOUNTING_WINDOW and lo < hi:
                    mid = lo + (hi - lo) // 2
                    windows[:0] = [(lo, mid), (mid + timedelta(days=1), hi)]
                    break
                records += len(body["content"])
                if body["last"]:
                    break
                page += 1
    seconds = time.perf_counter() - started
    session.close()
    if stats is not None:
        stats["pages"] = pages
    return records, seconds


def _serve_in_child(persons: int, seed: int, today: date, conn) -> None:
    from demo_sources.server import SourceServer
    from demo_sources.world import generate_world

    t0 = time.perf_counter()
    world = generate_world(persons, seed, today=today)
    t1 = time.perf_counter()
    server = SourceServer(world, port=0, credentials=SourceCredentials.from_env())
    conn.send((server.base_url, t1 - t0, time.perf_counter() - t1))
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 11, 20))
    parser.add_argument("--only", nargs="*", help="resource keys to measure (default: all 13)")
    parser.add_argument("--in-process", action="store_true",
                        help="serve from a thread of this process (client and server then share one GIL)")
    args = parser.parse_args(argv)

    credentials = SourceCredentials.from_env()
    if args.in_process:
        from demo_sources.server import SourceServer
        from demo_sources.world import generate_world

        t0 = time.perf_counter()
        world = generate_world(args.persons, args.seed, today=args.today)
        t1 = time.perf_counter()
        server = SourceServer(world, port=0, credentials=credentials).start()
        base_url, generated, loaded = server.base_url, t1 - t0, time.perf_counter() - t1
        stop = server.shutdown
    else:
        import multiprocessing

        parent, child = multiprocessing.Pipe()
        process = multiprocessing.get_context("fork").Process(
            target=_serve_in_child, args=(args.persons, args.seed, args.today, child), daemon=True
        )
        process.start()
        base_url, generated, loaded = parent.recv()

        def stop() -> None:
            process.terminate()
            process.join(10)

    where = "this process" if args.in_process else "a child process"
    print(f"world of {args.persons} persons generated in {generated:.1f} s; server loaded in {loaded:.1f} s "
          f"(serving from {where})")
    print(f"{'resource':28} {'records':>10} {'pages':>7} {'seconds':>8} {'records/s':>11} {'pages/s':>8}")
    total_records = total_seconds = 0.0
    try:
        for key in args.only or RESOURCE_KEYS:
            stats: dict = {}
            records, seconds = bare_fetch(base_url, key, credentials, stats)
            total_records += records
            total_seconds += seconds
            print(f"{key:28} {records:>10} {stats['pages']:>7} {seconds:>8.2f} "
                  f"{records / seconds:>11,.0f} {stats['pages'] / seconds:>8.1f}", flush=True)
    finally:
        stop()
    print(f"{'total':28} {int(total_records):>10} {'':>7} {total_seconds:>8.2f} {total_records / total_seconds:>11,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
