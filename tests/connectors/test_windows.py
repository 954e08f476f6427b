"""Pure parts of the connectors: accounting date windows, ERP keyset domains, shop GraphQL paging and cost."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import orjson
import pytest

from connectors import SourceRequestError
from connectors.accounting import (RESOURCES as ACC, VOUCHER_PARTS, berlin_day, close_open_window, fetch_windowed,
                                   halve)
from connectors.erp import keyset_domain
from connectors.http import Response
from connectors.paginators import GraphqlConnectionPaginator, LexwarePagePaginator
from connectors.shop import refill_wait

D = date.fromisoformat


def as_response(envelope: dict) -> Response:
    return Response(envelope, {}, orjson.dumps(envelope))


def test_halve():
    assert halve((D("2026-01-01"), D("2026-01-10"))) == ((D("2026-01-01"), D("2026-01-05")),
                                                          (D("2026-01-06"), D("2026-01-10")))
    assert halve((D("2026-01-01"), D("2026-01-02"))) == ((D("2026-01-01"), D("2026-01-01")),
                                                          (D("2026-01-02"), D("2026-01-02")))
    assert halve((D("2026-01-01"), D("2026-01-04"))) == ((D("2026-01-01"), D("2026-01-02")),
                                                          (D("2026-01-03"), D("2026-01-04")))
    with pytest.raises(ValueError):
        halve((D("2026-01-01"), D("2026-01-01")))


def test_close_open_window():
    assert close_open_window(D("2026-01-01"), D("2026-03-01")) == ((D("2026-01-01"), D("2026-02-28")),
                                                                   (D("2026-03-01"), None))
    with pytest.raises(ValueError):
        close_open_window(D("2026-01-01"), D("2026-01-01"))


class FakeList:
    """In-memory voucher list with the API's rules: sort, whole Berlin days inclusive, depth limit."""

    def __init__(self, records, max_results):
        self.records = {r["id"]: r for r in records}
        self.max_results = max_results
        self.calls: list[tuple] = []
        self.on_call = None

    def __call__(self, window, page, size, part=()):
        self.calls.append((window, page, size, part))
        if self.on_call:
            self.on_call(len(self.calls))
        if (page + 1) * size > self.max_results:
            raise SourceRequestError("400 page too deep", system="accounting", endpoint="GET /v1/voucherlist",
                                     status=400)
        lo, hi = window
        rows = sorted(self.records.values(), key=lambda r: (datetime.fromisoformat(r["updatedDate"]), r["id"]))
        rows = [r for r in rows if (lo is None or berlin_day(r["updatedDate"]) >= lo)
                and (hi is None or berlin_day(r["updatedDate"]) <= hi)
                and all(r.get(k) == v for k, v in part)]
        content = rows[page * size:(page + 1) * size]
        pages = max(1, -(-len(rows) // size))
        return as_response({"content": content, "first": page == 0, "last": page >= pages - 1,
                            "totalElements": len(rows), "totalPages": pages, "numberOfElements": len(content),
                            "size": size, "number": page})


def _ts(day: date, minute: int) -> str:
    # 21:30 UTC is the next Berlin day: makes sure days are Berlin days
    t = datetime(day.year, day.month, day.day, 8, tzinfo=timezone.utc) + timedelta(minutes=minute)
    return t.astimezone(timezone(timedelta(hours=1))).isoformat(timespec="milliseconds")


def _records(seed_days: dict[date, int]):
    out = []
    for day, n in seed_days.items():
        for i in range(n):
            out.append({"id": str(uuid.UUID(int=len(out) + 1)), "updatedDate": _ts(day, i)})
    return out


def _pull(fake, watermark, size=10, max_results=40, resource="payments"):
    parts = VOUCHER_PARTS if resource == "vouchers" else ()
    pages = list(fetch_windowed(fake, ACC[resource], watermark, size, max_results, parts))
    got = {r["id"]: r for p in pages for r in p.records}
    marks = [p.watermark for p in pages if p.watermark]
    return got, marks


def test_full_pull_splits_into_windows_within_the_depth_limit():
    start = D("2026-01-01")
    days = {start + timedelta(days=i): (i * 7) % 5 for i in range(90)}
    days[start + timedelta(days=40)] = 35  # one busy day, nearly at the limit
    records = _records(days)
    fake = FakeList(records, max_results=40)
    got, marks = _pull(fake, None)
    assert got == {r["id"]: r for r in records}
    assert marks == sorted(marks) and marks[-1] == max(berlin_day(r["updatedDate"]) for r in records).isoformat()
    # each window (first page's total) within the limit
    for window, page, size, _ in fake.calls:
        assert (page + 1) * size <= 40


def test_incremental_from_watermark_reads_only_that_day_and_later():
    start = D("2026-01-01")
    records = _records({start + timedelta(days=i): 3 for i in range(30)})
    fake = FakeList(records, max_results=40)
    got, marks = _pull(fake, "2026-01-20")
    assert set(got) == {r["id"] for r in records if berlin_day(r["updatedDate"]) >= D("2026-01-20")}
    assert marks[-1] == "2026-01-30"
    # nothing newer: the watermark does not move, the last day is read again
    got, marks = _pull(fake, "2026-01-30")
    assert len(got) == 3 and marks == []


def test_closed_window_too_large_is_halved():
    start = D("2026-01-01")
    records = _records({start + timedelta(days=i): 4 for i in range(40)})
    fake = FakeList(records, max_results=40)

    def grow(n):
        if n == 3:  # right after the probe closed the first window: more records land in its days
            for i in range(30):
                rid = str(uuid.UUID(int=10_000 + i))
                fake.records[rid] = {"id": rid, "updatedDate": _ts(start + timedelta(days=i % 6), 900 + i)}

    fake.on_call = grow
    got, _ = _pull(fake, "2026-01-01")
    assert got == fake.records
    first_closed = fake.calls[2][0]  # (2026-01-01, day before the 40th record's day)
    assert first_closed[1] is not None
    halves = halve(first_closed)
    assert any(w == halves[0] for w, _, _, _ in fake.calls) and any(w == halves[1] for w, _, _, _ in fake.calls)


def test_single_day_over_the_limit_is_an_error_for_payments():
    records = _records({D("2026-01-01"): 2, D("2026-01-02"): 45})
    with pytest.raises(SourceRequestError, match="single day 2026-01-02"):
        _pull(FakeList(records, max_results=40), None)


def test_single_overfull_day_of_vouchers_is_read_per_status_and_type():
    records = _records({D("2026-01-01"): 5, D("2026-01-02"): 90, D("2026-01-03"): 5})
    statuses = ["open", "overdue", "paid", "paidoff", "voided"]
    for i, r in enumerate(records):
        r["voucherType"] = "salescreditnote" if i % 7 == 0 else "salesinvoice"
        r["voucherStatus"] = statuses[i % 5]
    fake = FakeList(records, max_results=40)
    got, marks = _pull(fake, None, resource="vouchers")
    assert got == {r["id"]: r for r in records}
    assert marks[-1] == "2026-01-03"
    assert {p for _, _, _, p in fake.calls if p} == set(VOUCHER_PARTS)
    # too many even for one status and type: an error naming the sub-query
    for r in records:
        r["voucherStatus"], r["voucherType"] = "paid", "salesinvoice"
    with pytest.raises(SourceRequestError, match="voucherStatus=paid"):
        _pull(FakeList(records, max_results=40), None, resource="vouchers")


def test_window_reread_when_total_changes_while_paging():
    start = D("2026-01-01")
    records = _records({start + timedelta(days=i): 3 for i in range(10)})
    fake = FakeList(records, max_results=40)
    first_id = records[0]["id"]

    def mutate(n):
        if n == 2:  # after page 0: the first record is updated (moves to the end), a new one appears
            fake.records[first_id] = {"id": first_id, "updatedDate": _ts(D("2026-01-10"), 500)}
            nid = str(uuid.UUID(int=999))
            fake.records[nid] = {"id": nid, "updatedDate": _ts(D("2026-01-10"), 501)}

    fake.on_call = mutate
    got, _ = _pull(fake, None)
    assert got == fake.records  # every record, in its latest version
    assert sum(1 for w, p, _, _ in fake.calls if p == 0) >= 2  # the window was read again


def test_watermark_ignores_malformed_markers():
    rows = _records({D("2026-01-01"): 3, D("2026-01-02"): 3})
    bad = {"id": str(uuid.UUID(int=778)), "updatedDate": "2099-12-31T00:00:00.000+01:00x"}
    no_marker = {"id": str(uuid.UUID(int=779))}
    rows += [bad, no_marker]
    envelope = {"content": rows, "last": True, "totalElements": len(rows)}
    pages = list(fetch_windowed(lambda w, p, s, part: as_response(envelope), ACC["vouchers"], None, 100, 40))
    assert pages[0].records[-2:] == [bad, no_marker]  # passed through
    assert pages[0].watermark == "2026-01-02"  # from the last parsable record


def test_erp_keyset_domain():
    assert keyset_domain(None, None, None) == []
    assert keyset_domain("2026-05-01 00:00:00", None, None) == [["write_date", ">=", "2026-05-01 00:00:00"]]
    assert keyset_domain(None, "2026-05-02 10:00:00", 17) == [
        "|", ["write_date", ">", "2026-05-02 10:00:00"],
        "&", ["write_date", "=", "2026-05-02 10:00:00"], ["id", ">", 17]]
    assert keyset_domain("2026-05-01 00:00:00", "2026-05-02 10:00:00", 17) == [
        "&", ["write_date", ">=", "2026-05-01 00:00:00"],
        "|", ["write_date", ">", "2026-05-02 10:00:00"],
        "&", ["write_date", "=", "2026-05-02 10:00:00"], ["id", ">", 17]]


def test_shop_graphql_connection_paging():
    pager = GraphqlConnectionPaginator("customers")
    body = {"data": {"customers": {"nodes": [{"id": "gid://shopify/Customer/1"}],
                                   "pageInfo": {"hasNextPage": True, "endCursor": "eyJsYXN0X2lkIjoxfQ"}}}}
    assert pager.records_path() == "$.data.customers.nodes"
    assert pager.nodes(body) == [{"id": "gid://shopify/Customer/1"}]
    assert pager.next_cursor(body) == "eyJsYXN0X2lkIjoxfQ"
    body["data"]["customers"]["pageInfo"] = {"hasNextPage": False, "endCursor": "x"}
    assert pager.next_cursor(body) is None
    assert pager.next_cursor({"errors": [{"message": "Throttled"}]}) is None
    assert pager.nodes({"data": None}) is None


def test_shop_throttle_waits_for_the_bucket_to_refill():
    cost = {"requestedQueryCost": 752, "actualQueryCost": None,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 352, "restoreRate": 100.0}}
    assert refill_wait(cost) == 4.0
    assert refill_wait(dict(cost, requestedQueryCost=100)) == 0.0
    assert refill_wait(None) == 1.0


def test_watermark_ignores_future_dated_records_and_pages_say_which_are():
    rows = _records({D("2026-01-01"): 3, D("2026-01-02"): 3})
    future = {"id": str(uuid.UUID(int=780)), "updatedDate": "2099-01-01T00:00:00.000+01:00"}
    envelope = {"content": rows + [future], "last": True, "totalElements": len(rows) + 1}
    before = datetime.now(timezone.utc)
    pages = list(fetch_windowed(lambda w, p, s, part: as_response(envelope), ACC["vouchers"], None, 100, 40,
                                future_tolerance=timedelta(hours=1)))
    assert pages[0].records[-1] == future  # landed all the same
    assert pages[0].watermark == "2026-01-02"  # from the last record not after the clock
    assert before + timedelta(hours=1) <= pages[0].future_after <= datetime.now(timezone.utc) + timedelta(hours=1)


def test_lexware_pages_advance_until_the_last_or_an_empty_page():
    pager = LexwarePagePaginator(250)
    assert pager.arguments() == {"page": 0, "size": 250}
    assert pager.advance({"content": [{"id": 1}], "last": False})
    assert pager.arguments() == {"page": 1, "size": 250}
    assert not pager.advance({"content": [{"id": 2}], "last": True})
    # a source that never says `last`, or an envelope without it, cannot keep the scan going
    assert not LexwarePagePaginator(10).advance({"content": [], "last": False})
    assert not LexwarePagePaginator(10).advance({"content": [{"id": 1}]})
    assert not LexwarePagePaginator(10).advance(["not", "an", "envelope"])
