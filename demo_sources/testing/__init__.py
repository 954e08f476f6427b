"""Helpers that the tests and the benchmarks share (development only, like the demo sources).

`TEST_TODAY` and `CREDENTIALS` are the fixed day and credentials every test world is served with;
`dagster_dev` runs `dagster dev` on a real instance; `world_loader` lands a generated world in the
raw tables without HTTP.
"""

from __future__ import annotations

import base64
from datetime import date

from c360.settings import SourceCredentials

# A fixed "today" keeps every world in the tests reproducible whatever the date of the run.
TEST_TODAY = date(2026, 11, 20)
CREDENTIALS = SourceCredentials(
    shop_token="test-shop-token",
    erp_api_key="test-erp-key",
    helpdesk_email="agent@example.com",
    helpdesk_token="test-helpdesk-token",
    accounting_api_key="test-accounting-key",
)


def auth_headers(system: str, credentials: SourceCredentials) -> dict[str, str]:
    """Each system's auth headers, written out without the connectors: the server tests and the serving
    benchmark talk to the demo sources as a bare client would."""
    if system == "shop":
        return {"X-Shopify-Access-Token": credentials.shop_token}
    if system == "erp":
        return {"Authorization": f"bearer {credentials.erp_api_key}"}
    if system == "helpdesk":
        token = base64.b64encode(f"{credentials.helpdesk_email}/token:{credentials.helpdesk_token}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {"Authorization": f"Bearer {credentials.accounting_api_key}"}
