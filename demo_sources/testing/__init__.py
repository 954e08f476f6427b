"""Helpers that the tests and the benchmarks share (development only, like the demo sources).

`TEST_TODAY` and `CREDENTIALS` are the fixed day and credentials every test world is served with;
`dagster_dev` runs `dagster dev` on a real instance; `world_loader` lands a generated world in the
raw tables without HTTP.
"""

from __future__ import annotations

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
