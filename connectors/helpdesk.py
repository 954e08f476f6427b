"""Helpdesk connector (Zendesk cursor-based incremental export style).

First run `start_time=0`, later runs `cursor=<after_cursor>` of the previous run; pages until
`end_of_stream: true`. The cursor is positional after the last record served, so it is the
watermark as it stands (records changed in the last 60 s are held back by the server and come
after the cursor once released).
"""

from __future__ import annotations

import base64
from typing import Iterator

from c360.settings import SourceCredentials

from .base import Page, RequestStats, ResourceSpec, expect_records, records_path, resource
from .http import HttpClient

RESOURCES: dict[str, ResourceSpec] = {
    "users": resource("helpdesk", "users", "helpdesk_users", "updated_at"),
    "tickets": resource("helpdesk", "tickets", "helpdesk_tickets", "updated_at"),
    "survey_responses": resource("helpdesk", "survey_responses", "helpdesk_survey_responses", "updated_at"),
}


class HelpdeskClient:
    system = "helpdesk"
    resources = RESOURCES

    def __init__(self, base_url: str, credentials: SourceCredentials, *, timeout: float = 30.0,
                 max_retries: int = 8):
        self.stats = RequestStats()
        user = f"{credentials.helpdesk_email}/token"
        basic = base64.b64encode(f"{user}:{credentials.helpdesk_token}".encode()).decode("ascii")
        self.http = HttpClient("helpdesk", base_url, headers={"Authorization": f"Basic {basic}"},
                               timeout=timeout, max_retries=max_retries, stats=self.stats)

    def fetch(self, resource: str, watermark: str | None) -> Iterator[Page]:
        if resource not in self.resources:
            raise KeyError(resource)
        path = f"/api/v2/incremental/{resource}/cursor.json"
        params: dict[str, object] = {"cursor": watermark} if watermark else {"start_time": 0}
        cursor = watermark
        while True:
            response = self.http.get(path, params)
            body = response.body
            records = expect_records(body, resource, "helpdesk", f"GET {path}")
            after = body.get("after_cursor") or None
            yield Page(records, after if after != cursor else None, response.content, records_path(resource))
            if body.get("end_of_stream", True) or after is None or (after == cursor and not records):
                return
            cursor = after
            params = {"cursor": after}

    def close(self) -> None:
        self.http.close()
