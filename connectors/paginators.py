"""Pagination strategies the connectors share: each reads a response and tells the next request's
cursor, or None on the last page. Sections per system."""

from __future__ import annotations

from typing import Any


# --- shop (Shopify) ----------------------------------------------------------------------------------

class GraphqlConnectionPaginator:
    """A GraphQL (Relay) connection: `pageInfo { hasNextPage endCursor }` of `data.<connection>`; the
    next page asks `after: <endCursor>` (https://shopify.dev/docs/api/usage/pagination-graphql)."""

    def __init__(self, connection: str):
        self.connection = connection

    def records_path(self) -> str:
        """The JSON path of the page's nodes in the response body."""
        return f"$.data.{self.connection}.nodes"

    def nodes(self, body: Any) -> Any:
        conn = self._connection(body)
        return conn.get("nodes") if isinstance(conn, dict) else None

    def next_cursor(self, body: Any) -> str | None:
        conn = self._connection(body)
        info = conn.get("pageInfo") if isinstance(conn, dict) else None
        if not isinstance(info, dict) or not info.get("hasNextPage"):
            return None
        cursor = info.get("endCursor")
        return cursor if isinstance(cursor, str) and cursor else None

    def _connection(self, body: Any) -> Any:
        data = body.get("data") if isinstance(body, dict) else None
        return data.get(self.connection) if isinstance(data, dict) else None
