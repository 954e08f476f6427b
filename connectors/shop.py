"""Shop connector (Shopify Admin REST style).

Pagination: `Link: <...page_info=...>; rel="next"`, limit 250; a request with `page_info` carries
only `limit`. Incremental: `updated_at_min=<watermark>` (inclusive). Watermark = the greatest
`updated_at` landed, as the shop wrote it, that is not after the clock when its page arrived (a
future-dated record never moves it); records sharing that second are read again next run (harmless:
the landing upserts). Orders are always asked with `status=any`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

from c360.settings import DEFAULT_FUTURE_TOLERANCE, SourceCredentials

from .base import (MalformedRecord, Page, RequestStats, ResourceSpec, expect_records, last_valid, parse_iso_offset,
                   records_path, resource)
from .http import HttpClient

API = "/admin/api/2024-10"
PAGE_SIZE = 250

RESOURCES: dict[str, ResourceSpec] = {
    "customers": resource("shop", "customers", "shop_customers", "updated_at"),
    "orders": resource("shop", "orders", "shop_orders", "updated_at"),
    "checkouts": resource("shop", "checkouts", "shop_checkouts", "updated_at"),
}

_NEXT_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def next_page_info(link_header: str | None) -> str | None:
    """The `page_info` of the rel="next" link, or None on the last page."""
    if not link_header:
        return None
    m = _NEXT_RE.search(link_header)
    if not m:
        return None
    values = parse_qs(urlsplit(m.group(1)).query).get("page_info")
    return values[0] if values else None


class ShopClient:
    system = "shop"
    resources = RESOURCES

    def __init__(self, base_url: str, credentials: SourceCredentials, *, timeout: float = 30.0,
                 max_retries: int = 8, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
                 page_size: int = PAGE_SIZE):
        self.stats = RequestStats()
        self.page_size = page_size
        self.future_tolerance = future_tolerance
        self.http = HttpClient("shop", base_url, headers={"X-Shop-Access-Token": credentials.shop_token},
                               timeout=timeout, max_retries=max_retries, stats=self.stats)

    def fetch(self, resource: str, watermark: str | None) -> Iterator[Page]:
        spec = self.resources[resource]
        path = f"{API}/{resource}.json"
        params: dict[str, object] = {"limit": self.page_size}
        if resource == "orders":
            params["status"] = "any"
        best = None
        if watermark:
            try:
                best = parse_iso_offset(watermark, "watermark")
            except MalformedRecord as exc:
                raise ValueError(f"shop/{resource}: stored watermark is unusable: {exc}") from None
            params["updated_at_min"] = watermark
        while True:
            response = self.http.get(path, params)
            read_at = datetime.now(UTC)
            records = expect_records(response.body, resource, "shop", f"GET {path}")
            new_wm = None
            rec, marker = last_valid(records, spec, not_after=read_at)
            if rec is not None and (best is None or marker > best):
                best = marker
                new_wm = rec[spec.version_field]
            yield Page(records, new_wm, response.content, records_path(resource),
                       future_after=read_at + self.future_tolerance)
            page_info = next_page_info(response.headers.get("Link"))
            if not page_info or not records:
                return
            params = {"limit": self.page_size, "page_info": page_info}

    def close(self) -> None:
        self.http.close()
