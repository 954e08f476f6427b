"""Throughput of the demo sources: a bare `requests` loop per resource against a generated world.

    .venv/bin/python benchmarks/bench_serve.py --persons 100000

Starts `SourceServer` on a generated world (faults off) and, per resource, fetches every page with
a plain `requests.Session`, decoding the JSON and nothing else, in the protocol the connector speaks
(the shop's first sync as one Shopify bulk operation, polled and its JSONL downloaded; the ERP's
JSON-2 keyset pages; the Zendesk exports and rating list; Lexware's voucher list of every sales type,
and for payments one request per voucher). Prints records/s and pages/s.
`bare_fetch(base_url, key, credentials)` is the reusable unit (the connector side goes beside it).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from c360.settings import SourceCredentials, shop_api_version  # noqa: E402
from connectors.accounting import SALES_VOUCHER_TYPES  # noqa: E402
from connectors.shop import CONNECTIONS, NODE_FIELDS, bulk_connection  # noqa: E402
from connectors.shop_bulk import DOWNLOAD_CHUNK_BYTES, FINAL_STATUSES, POLL_QUERY, RUN_MUTATION, bulk_query  # noqa: E402
from demo_sources.testing import auth_headers  # noqa: E402
from demo_sources.world import ACCOUNTING_WINDOW  # noqa: E402

RESOURCE_KEYS = (
    "shop/customers", "shop/orders", "shop/checkouts",
    "erp/res.partner", "erp/sale.order", "erp/sale.order.line", "erp/product.product",
    "helpdesk/users", "helpdesk/tickets", "helpdesk/satisfaction_ratings", "helpdesk/csat_survey_responses",
    # Lexware has no payments list: a payment state is one request per voucher, not a paged export
    # (bench_landing reads them beside the landing all the same)
    "accounting/contacts", "accounting/vouchers",
)
ERP_PAGE = 500
# Zendesk's lists with cursor pages: (path, records field, first page's parameters)
CURSOR_LISTS = {
    "helpdesk/satisfaction_ratings": ("/api/v2/satisfaction_ratings", "satisfaction_ratings", {}),
    "helpdesk/csat_survey_responses": ("/api/v2/guide/survey_responses", "survey_responses", {"sort": "id"}),
}


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

    if system == "shop":  # a first sync: one bulk operation, as the connector runs it
        records = _shop_bulk(get, session, f"{root}/admin/api/{shop_api_version()}/graphql.json", resource)
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
    elif key in CURSOR_LISTS:  # lists with cursor pages, not exports
        path, field, first = CURSOR_LISTS[key]
        params = {**first, "page[size]": 100}
        while True:
            body = get(f"{root}{path}", params=params).json()
            records += len(body[field])
            if not body["meta"]["has_more"]:
                break
            params = {**first, "page[size]": 100, "page[after]": body["meta"]["after_cursor"]}
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
    else:  # vouchers, and for payments the payment state of each voucher listed
        endpoint = "voucherlist"
        extra = {"voucherType": ",".join(SALES_VOUCHER_TYPES), "voucherStatus": "any", "sort": "updatedDate,ASC"}
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
                if resource == "payments":
                    for voucher in body["content"]:
                        response = session.get(f"{root}/v1/payments/{voucher['id']}", timeout=60)
                        pages += 1
                        if response.status_code != 404:
                            response.raise_for_status()
                            response.json()
                            records += 1
                else:
                    records += len(body["content"])
                if body["last"]:
                    break
                page += 1
    seconds = time.perf_counter() - started
    session.close()
    if stats is not None:
        stats["pages"] = pages
    return records, seconds


def _shop_bulk(get, session: requests.Session, url: str, resource: str) -> int:
    """Run the connector's bulk query, poll it as the connector does (0.25 s, growing by half), download
    the JSONL and decode each line; returns the top-level objects (the records)."""
    document = bulk_query(CONNECTIONS[resource], NODE_FIELDS[resource](bulk_connection), None)
    started = get(url, method="POST", json={"query": RUN_MUTATION, "variables": {"query": document}}).json()
    op_id = started["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
    pause = 0.25
    while True:
        op = get(url, method="POST", json={"query": POLL_QUERY, "variables": {"id": op_id}}).json()["data"]["node"]
        if op["status"] in FINAL_STATUSES:
            break
        time.sleep(pause)
        pause = min(pause * 1.5, 30.0)
    if op["status"] != "COMPLETED":
        raise SystemExit(f"shop/{resource}: bulk operation ended {op['status']}")
    if not op.get("url"):
        return 0
    records = 0
    with session.get(op["url"], stream=True, timeout=60) as response:
        response.raise_for_status()
        for line in response.iter_lines(chunk_size=DOWNLOAD_CHUNK_BYTES):  # the connector's read size
            if line and "__parentId" not in orjson.loads(line):
                records += 1
    return records


def _serve_in_child(persons: int, seed: int, today: date, conn) -> None:
    from demo_sources.current_csat import with_csat
    from demo_sources.server import SourceServer
    from demo_sources.world import generate_world

    t0 = time.perf_counter()
    world = with_csat(generate_world(persons, seed, today=today), "both")  # every resource the connectors read
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
