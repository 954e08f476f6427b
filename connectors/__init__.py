"""API clients of the four source systems (shop, ERP, helpdesk, accounting).

`build_client(system, base_url, credentials)` returns a `SourceClient`; `ALL_RESOURCES` lists the
15 resources with their raw landing tables (NPS answers are a file import, `c360.nps_import`). See
docs/source_protocol.md for the per-system rules.
"""

from __future__ import annotations

from datetime import timedelta

from c360.settings import DEFAULT_FUTURE_TOLERANCE, SourceCredentials

from .accounting import AccountingClient
from .base import MalformedRecord, Page, RequestStats, ResourceSpec, SourceClient
from .erp import ErpClient
from .errors import SourceAuthError, SourceError, SourceRequestError, SourceUnavailableError
from .helpdesk import HelpdeskClient
from .shop import ShopClient

CLIENTS = {
    "shop": ShopClient,
    "erp": ErpClient,
    "helpdesk": HelpdeskClient,
    "accounting": AccountingClient,
}


def build_client(system: str, base_url: str, credentials: SourceCredentials, *, timeout: float = 30.0,
                 max_retries: int = 8, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE) -> SourceClient:
    try:
        cls = CLIENTS[system]
    except KeyError:
        raise ValueError(f"unknown source system {system!r}; expected one of {', '.join(CLIENTS)}") from None
    return cls(base_url, credentials, timeout=timeout, max_retries=max_retries, future_tolerance=future_tolerance)


ALL_RESOURCES: list[ResourceSpec] = [spec for cls in CLIENTS.values() for spec in cls.resources.values()]

__all__ = [
    "ALL_RESOURCES", "CLIENTS", "MalformedRecord", "Page", "RequestStats", "ResourceSpec", "SourceAuthError",
    "SourceClient", "SourceError", "SourceRequestError", "SourceUnavailableError", "build_client",
]
