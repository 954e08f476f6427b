"""Accounting connector (Lexware Office / lexoffice).

Contacts: a full scan (no change filter exists; the watermark stays None, changes show in `version`).
Vouchers: `GET /v1/voucherlist` for every sales voucher type of bookkeeping (`salesinvoice`,
`salescreditnote`) and of the invoicing module (`invoice`, `creditnote`, `downpaymentinvoice`), every
status (`voucherStatus=any`), sorted explicitly by `updatedDate,ASC` (the default is voucher date
descending) and filtered by whole Europe/Berlin days (`updatedDateFrom`/`updatedDateTo`, inclusive).
A page reaching past 10,000 results gives 400, so a pull is cut into date windows of at most 10,000
results: an open-ended window that is too large is closed just before the day of its 10,000th record
(one 1-record probe), a closed window that is too large is halved. A window whose `totalElements`
changes while it is paged is read again. A single day with more than 10,000 vouchers is read once per
voucher status and type (the list's other filters). Watermark = the Berlin day of the greatest
`updatedDate` landed that is not after the clock when its page arrived (a future-dated record never
moves it), re-read inclusively next run.

Payments: the API has no payments list, only the payment state of one voucher at
`GET /v1/payments/{voucherId}`. The payments resource reads the voucher list from its own watermark
(the vouchers new or changed since the last payments pull: a payment changes the voucher's status and
so its `updatedDate`) and asks for the payment state of each; it lands one record per voucher: the
response as returned plus `id` (the voucher id) and `updatedDate` (the voucher row's `updatedDate`,
the change marker; the response itself carries neither). Every request keeps the client-side pace of
`C360_ACCOUNTING_MAX_RPS` (Lexware Office: 2 requests a second).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from c360.settings import DEFAULT_FUTURE_TOLERANCE, SourceCredentials, accounting_max_rps

from .base import (MalformedRecord, Page, RequestStats, ResourceSpec, expect_records, last_valid, parse_iso_offset,
                   records_path, resource)
from .errors import SourceError, SourceRequestError, SourceUnavailableError
from .http import HttpClient, RequestPacer, Response
from .paginators import LexwarePagePaginator

BERLIN = ZoneInfo("Europe/Berlin")
PAGE_SIZE = 250
MAX_RESULTS = 10_000
MAX_WINDOW_REREADS = 5

RESOURCES: dict[str, ResourceSpec] = {
    "contacts": resource("accounting", "contacts", "accounting_contacts", "version"),
    "vouchers": resource("accounting", "vouchers", "accounting_vouchers", "updatedDate"),
    "payments": resource("accounting", "payments", "accounting_payments", "updatedDate"),
}

_PATHS = {"contacts": "/v1/contacts", "vouchers": "/v1/voucherlist", "payments": "/v1/voucherlist"}
PAYMENTS_PATH = "/v1/payments/{voucher_id}"
# The sales vouchers a shop produces: bookkeeping vouchers and the invoicing module's documents.
SALES_VOUCHER_TYPES = ("salesinvoice", "salescreditnote", "invoice", "creditnote", "downpaymentinvoice")
VOUCHER_STATUSES = ("draft", "open", "overdue", "paid", "paidoff", "voided", "transferred", "sepadebit",
                    "accepted", "rejected", "unchecked")
_VOUCHER_FILTERS = {"voucherType": ",".join(SALES_VOUCHER_TYPES), "voucherStatus": "any",
                    "sort": "updatedDate,ASC"}
_FILTERS = {"vouchers": _VOUCHER_FILTERS, "payments": _VOUCHER_FILTERS}

Window = tuple[date | None, date | None]  # inclusive days; None = open
Part = tuple[tuple[str, str], ...]  # extra filter parameters of a sub-query, () = none
# The sub-queries of one overfull day of vouchers: one per status and type (all the contract knows).
VOUCHER_PARTS: tuple[Part, ...] = tuple(
    (("voucherType", vtype), ("voucherStatus", status))
    for vtype in SALES_VOUCHER_TYPES
    for status in VOUCHER_STATUSES
)
_PARTS = {"vouchers": VOUCHER_PARTS, "payments": VOUCHER_PARTS}


def berlin_day(updated: str) -> date:
    """The Europe/Berlin calendar day of an `updatedDate` (raises MalformedRecord)."""
    return parse_iso_offset(updated, "updatedDate").astimezone(BERLIN).date()


def halve(window: tuple[date, date]) -> tuple[tuple[date, date], tuple[date, date]]:
    """Split a closed window of at least two days into two adjacent halves."""
    lo, hi = window
    if hi <= lo:
        raise ValueError(f"cannot halve the one-day window {lo}")
    mid = lo + timedelta(days=(hi - lo).days // 2)
    return (lo, mid), (mid + timedelta(days=1), hi)


def close_open_window(lo: date, day_of_last_allowed: date) -> tuple[tuple[date, date], Window]:
    """Cut [lo, open) before the day of the last record a window may reach (the 10,000th).

    Every record of a day before that day precedes it in the sort order, so the closed part holds
    fewer than 10,000 results.
    """
    if day_of_last_allowed <= lo:
        raise ValueError(f"more than the page limit of results on the single day {lo}")
    return (lo, day_of_last_allowed - timedelta(days=1)), (day_of_last_allowed, None)


class AccountingClient:
    system = "accounting"
    resources = RESOURCES

    def __init__(self, base_url: str, credentials: SourceCredentials, *, timeout: float = 30.0,
                 max_retries: int = 8, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
                 page_size: int = PAGE_SIZE, max_results: int = MAX_RESULTS, max_rps: float | None = None):
        self.stats = RequestStats()
        self.page_size = page_size
        self.max_results = max_results
        self.future_tolerance = future_tolerance
        self.http = HttpClient("accounting", base_url,
                               headers={"Authorization": f"Bearer {credentials.accounting_api_key}"},
                               timeout=timeout, max_retries=max_retries, stats=self.stats,
                               pacer=RequestPacer(accounting_max_rps(base_url) if max_rps is None else max_rps))

    def fetch(self, resource: str, watermark: str | None) -> Iterator[Page]:
        spec = self.resources[resource]
        if resource == "contacts":
            return self._scan(_PATHS[resource])
        pages = fetch_windowed(self._getter(resource), spec, watermark, self.page_size, self.max_results,
                               _PARTS[resource], future_tolerance=self.future_tolerance)
        return self._payments(pages) if resource == "payments" else pages

    def _payments(self, voucher_pages: Iterator[Page]) -> Iterator[Page]:
        """The payment state of each voucher of the voucher pages, one landed record per voucher."""
        spec = self.resources["payments"]
        for page in voucher_pages:
            records = []
            for row in page.records:
                try:
                    voucher_id = spec.record_id(row)
                    spec.record_version(row)
                except MalformedRecord:
                    continue  # the vouchers resource quarantines the row itself
                body = self._payment_state(voucher_id)
                if body is not None:
                    records.append({**body, "id": voucher_id, "updatedDate": row["updatedDate"]})
            yield Page(records, page.watermark, None, "$", future_after=page.future_after)

    def _payment_state(self, voucher_id: str) -> dict | None:
        """`GET /v1/payments/{voucherId}`; None when the voucher is gone meanwhile (404)."""
        path = PAYMENTS_PATH.format(voucher_id=voucher_id)
        try:
            response = self.http.get(path)
        except SourceRequestError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(response.body, dict):
            raise SourceError(f"accounting: unexpected response at GET {path}: not a JSON object",
                              system="accounting", endpoint=f"GET {path}", status=200)
        return response.body

    def close(self) -> None:
        self.http.close()

    def _scan(self, path: str) -> Iterator[Page]:
        pager = LexwarePagePaginator(self.page_size)
        while True:
            response = self.http.get(path, pager.arguments())
            records = expect_records(response.body, "content", "accounting", f"GET {path}")
            yield Page(records, None, response.content, records_path("content"))
            if not pager.advance(response.body):
                return

    def _getter(self, resource: str) -> Callable[[Window, int, int, Part], Response]:
        path = _PATHS[resource]
        base = _FILTERS.get(resource, {})

        def get(window: Window, page: int, size: int, part: Part = ()) -> Response:
            params: dict[str, object] = dict(base)
            params.update(part)
            lo, hi = window
            if lo is not None:
                params["updatedDateFrom"] = lo.isoformat()
            if hi is not None:
                params["updatedDateTo"] = hi.isoformat()
            params["page"] = page
            params["size"] = size
            response = self.http.get(path, params)
            expect_records(response.body, "content", "accounting", f"GET {path}")
            return response

        return get


def fetch_windowed(get: Callable[..., Response], spec: ResourceSpec, watermark: str | None, page_size: int,
                   max_results: int, parts: tuple[Part, ...] = (), *,
                   future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE) -> Iterator[Page]:
    """Incremental pull of a date-filtered list in windows of at most `max_results` results.

    `get(window, page, size, part)` returns the response with the API's page envelope; `parts` are the sub-queries
    that together cover one day that alone holds too many results. Kept free of HTTP so that the
    window logic can be tested against an in-memory list.
    """
    best: date | None = None
    if watermark:
        try:
            best = date.fromisoformat(watermark)
        except ValueError:
            raise ValueError(f"{spec.key}: stored watermark {watermark!r} is not a yyyy-MM-dd day") from None
    pending: list[tuple[Window, Part]] = [((best, None), ())]
    while pending:
        window, part = pending.pop(0)
        rereads = 0
        while True:  # one pass over the window; repeated when its totalElements changes
            first = get(window, 0, page_size, part)  # its totalElements decides whether the window is split
            total = first.body.get("totalElements", 0)
            if total > max_results:
                pending[0:0] = _split(get, window, part, first.body.get("content") or [], spec, max_results, parts)
                break
            changed = False
            pager = LexwarePagePaginator(page_size)
            response = first
            while True:
                read_at = datetime.now(UTC)
                body = response.body
                records = body.get("content") or []
                new_wm = None
                rec, _ = last_valid(records, spec, not_after=read_at)
                if rec is not None:
                    day = berlin_day(rec["updatedDate"])
                    if best is None or day > best:
                        best = day
                        new_wm = day.isoformat()
                yield Page(records, new_wm, response.content, records_path("content"),
                           future_after=read_at + future_tolerance)
                if not pager.advance(body):
                    break
                response = get(window, pager.page, pager.size, part)
                if response.body.get("totalElements", 0) != total:
                    changed = True
                    break
            if not changed:
                break
            rereads += 1
            if rereads > MAX_WINDOW_REREADS:
                raise SourceUnavailableError(
                    f"{spec.system}: {spec.key} window {window} kept changing while it was read "
                    f"({rereads} passes); run the sync again later",
                    system=spec.system, endpoint=spec.key, attempts=rereads, last_cause="totalElements changed")


def _split(get: Callable[..., Response], window: Window, part: Part, content: list, spec: ResourceSpec,
           max_results: int, parts: tuple[Part, ...]) -> list[tuple[Window, Part]]:
    """Replace a window holding more than `max_results` results by smaller adjacent windows."""
    lo, hi = window
    if lo is None:  # first run: the list is sorted, so the first record has the earliest day
        lo = _first_day(content)
    if hi is None:
        probe = get((lo, None), max_results - 1, 1, part).body.get("content") or []
        cut = _day(probe[0]) if probe else None
        if cut is None:  # no readable probe: cut after the last day seen on the first page
            hi = max(lo, _last_day(content, lo))
            return [((lo, hi), part), ((hi + timedelta(days=1), None), part)]
        if cut > lo:
            return [(w, part) for w in close_open_window(lo, cut)]
        # the first day alone holds too many: read it in parts, then go on after it
        return _overfull_day(lo, part, spec, max_results, parts) + [((lo + timedelta(days=1), None), part)]
    if hi > lo:
        return [(w, part) for w in halve((lo, hi))]
    return _overfull_day(lo, part, spec, max_results, parts)


def _overfull_day(day: date, part: Part, spec: ResourceSpec, max_results: int,
                  parts: tuple[Part, ...]) -> list[tuple[Window, Part]]:
    if not part and parts:
        return [((day, day), p) for p in parts]
    raise SourceRequestError(
        f"{spec.system}: {spec.key} has more than {max_results} results updated on the single day {day}"
        f"{' for ' + ', '.join(f'{k}={v}' for k, v in part) if part else ''}; the list API cannot page past "
        f"{max_results}, so this day cannot be read completely",
        system=spec.system, endpoint=spec.key, status=400)


def _day(rec: object) -> date | None:
    try:
        return berlin_day(rec.get("updatedDate"))  # type: ignore[union-attr]
    except (MalformedRecord, AttributeError):
        return None


def _first_day(content: list) -> date:
    for rec in content:
        day = _day(rec)
        if day is not None:
            return day
    return date(1970, 1, 1)


def _last_day(content: list, default: date) -> date:
    for rec in reversed(content):
        day = _day(rec)
        if day is not None:
            return day
    return default
