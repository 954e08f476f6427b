"""ERP connector (Odoo JSON-2 style).

`POST /json/2/{model}/search_read`, order "write_date asc, id asc", `context.active_test=false`.
A run starts from `[["write_date", ">=", W]]` (inclusive) and pages by keyset on (write_date, id)
with offset 0, so a record changing during the run cannot shift a page. The last page is the one
shorter than `limit`. Watermark = the last `write_date` landed (naive UTC "YYYY-MM-DD HH:MM:SS") that is
not after the clock when its page arrived (a future-dated record never moves it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Iterator

from c360.settings import DEFAULT_FUTURE_TOLERANCE, SourceCredentials

from .base import (MalformedRecord, Page, RequestStats, ResourceSpec, expect_records, last_valid,
                   parse_erp_datetime, records_path, resource)
from .http import HttpClient

PAGE_SIZE = 1000
ORDER = "write_date asc, id asc"

RESOURCES: dict[str, ResourceSpec] = {
    "res.partner": resource("erp", "res.partner", "erp_partners", "write_date"),
    "sale.order": resource("erp", "sale.order", "erp_sale_orders", "write_date"),
    "sale.order.line": resource("erp", "sale.order.line", "erp_sale_order_lines", "write_date"),
    "product.product": resource("erp", "product.product", "erp_products", "write_date"),
}


def keyset_domain(start: str | None, last_write_date: str | None, last_id: int | None) -> list:
    """Domain (prefix notation) of one page: the run's start filter AND the keyset after (write_date, id)."""
    domain: list = []
    if start is not None:
        domain.append(["write_date", ">=", start])
    if last_write_date is not None:
        if domain:
            domain.insert(0, "&")
        domain += ["|", ["write_date", ">", last_write_date],
                   "&", ["write_date", "=", last_write_date], ["id", ">", last_id]]
    return domain


class ErpClient:
    system = "erp"
    resources = RESOURCES

    def __init__(self, base_url: str, credentials: SourceCredentials, *, timeout: float = 30.0,
                 max_retries: int = 8, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
                 page_size: int = PAGE_SIZE):
        self.stats = RequestStats()
        self.page_size = page_size
        self.future_tolerance = future_tolerance
        self.http = HttpClient("erp", base_url, headers={"Authorization": f"bearer {credentials.erp_api_key}"},
                               timeout=timeout, max_retries=max_retries, stats=self.stats)

    def fetch(self, resource: str, watermark: str | None) -> Iterator[Page]:
        spec = self.resources[resource]
        path = f"/json/2/{resource}/search_read"
        best = None
        if watermark:
            try:
                best = parse_erp_datetime(watermark, "watermark")
            except MalformedRecord as exc:
                raise ValueError(f"erp/{resource}: stored watermark is unusable: {exc}") from None
        start = watermark or None
        key_wd: str | None = None
        key_id: int | None = None
        offset = 0
        while True:
            # No "fields": every stored field, as the raw landing wants the record as the ERP has it.
            body = {"domain": keyset_domain(start, key_wd, key_id), "offset": offset, "limit": self.page_size,
                    "order": ORDER, "context": {"active_test": False}}
            response = self.http.post(path, body)
            read_at = datetime.now(UTC)
            records = expect_records(response.body, None, "erp", f"POST {path}")
            new_wm = None
            plausible, marker = last_valid(records, spec, not_after=read_at)
            if plausible is not None and (best is None or marker > best):
                best = marker
                new_wm = plausible["write_date"]
            yield Page(records, new_wm, response.content, records_path(None),
                       future_after=read_at + self.future_tolerance)
            if len(records) < self.page_size:
                return
            # Keyset after the last record whose (write_date, id) is readable, future-dated or not; a
            # malformed tail after it is read again (the landing upserts). A full page without any
            # readable record falls back to offset paging over the same keyset.
            rec, _ = last_valid(records, spec)
            rid = rec.get("id") if rec is not None else None
            if isinstance(rid, int) and not isinstance(rid, bool) and (rec["write_date"], rid) != (key_wd, key_id):
                key_wd, key_id, offset = rec["write_date"], rid, 0
            else:
                offset += len(records)

    def close(self) -> None:
        self.http.close()
