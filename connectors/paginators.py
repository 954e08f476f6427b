"""Pagination strategies of the source connectors, one small class per scheme (as dlt's REST client
has them). Each system keeps its classes in its own section below."""

from __future__ import annotations

from typing import Any

from .base import ResourceSpec, last_valid


# --------------------------------------------------------------------------------------------------
# ERP (Odoo)
# --------------------------------------------------------------------------------------------------
def keyset_domain(start: str | None, last_write_date: str | None, last_id: int | None,
                  base: tuple[list, ...] = ()) -> list:
    """Domain (prefix notation) of one page: the model's fixed terms `base`, the run's start filter AND the
    keyset after (write_date, id). Odoo ANDs the top-level terms of a domain."""
    domain: list = []
    if start is not None:
        domain.append(["write_date", ">=", start])
    if last_write_date is not None:
        if domain:
            domain.insert(0, "&")
        domain += ["|", ["write_date", ">", last_write_date],
                   "&", ["write_date", "=", last_write_date], ["id", ">", last_id]]
    return [list(term) for term in base] + domain


class OdooKeysetPaginator:
    """`search_read` pages ordered `write_date asc, id asc`, from `write_date >= start` (inclusive), each
    next page after the last (write_date, id) read, offset 0: a record changing during the run cannot
    shift a page. The last page is the one shorter than `limit`. A full page without any readable
    (write_date, id) falls back to offset paging over the same keyset."""

    ORDER = "write_date asc, id asc"

    def __init__(self, spec: ResourceSpec, start: str | None, limit: int, base: tuple[list, ...] = ()):
        self.spec = spec
        self.base = base
        self.start = start
        self.limit = limit
        self.key_wd: str | None = None
        self.key_id: int | None = None
        self.offset = 0

    def arguments(self) -> dict:
        """The paging arguments of the next `search_read` call."""
        return {"domain": keyset_domain(self.start, self.key_wd, self.key_id, self.base), "offset": self.offset,
                "limit": self.limit, "order": self.ORDER}

    def advance(self, records: list) -> bool:
        """Move past `records` (one page); False when it was the last page."""
        if len(records) < self.limit:
            return False
        # Keyset after the last record whose (write_date, id) is readable, future-dated or not; a
        # malformed tail after it is read again (the landing upserts).
        rec, _ = last_valid(records, self.spec)
        rid = rec.get("id") if rec is not None else None
        if isinstance(rid, int) and not isinstance(rid, bool) and (rec["write_date"], rid) != (self.key_wd, self.key_id):
            self.key_wd, self.key_id, self.offset = rec["write_date"], rid, 0
        else:
            self.offset += len(records)
        return True


# --------------------------------------------------------------------------------------------------
# shop (Shopify)
# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# helpdesk (Zendesk)
# --------------------------------------------------------------------------------------------------
class ZendeskCursorPaginator:
    """Zendesk's cursor pagination of list endpoints (not the incremental exports): `page[size]` (at
    most 100), the next page asks `page[after]` = `meta.after_cursor`, and the last page says
    `meta.has_more: false` (https://developer.zendesk.com/api-reference/introduction/pagination/).
    `links.next` carries the same cursor; asking `page[after]` keeps the run's own filters."""

    MAX_SIZE = 100

    def __init__(self, params: dict[str, Any], size: int = MAX_SIZE):
        self.params = {**params, "page[size]": min(size, self.MAX_SIZE)}

    def arguments(self) -> dict[str, Any]:
        """The query of the next request."""
        return dict(self.params)

    def advance(self, body: Any) -> bool:
        """Move past the page `body`; False when it was the last one (or names no cursor to go on)."""
        meta = body.get("meta") if isinstance(body, dict) else None
        if not isinstance(meta, dict) or not meta.get("has_more"):
            return False
        after = meta.get("after_cursor")
        if not isinstance(after, str) or not after or after == self.params.get("page[after]"):
            return False
        self.params["page[after]"] = after
        return True


# --------------------------------------------------------------------------------------------------
# accounting (Lexware Office)
# --------------------------------------------------------------------------------------------------
class LexwarePagePaginator:
    """Lexware Office's numbered pages: `page` (0-based) and `size` ask for a page; the body is a Spring
    page envelope (`content`, `last`, `totalElements`, ...) and the last page says `last: true`
    (https://developers.lexware.io/docs/, "Paging of Resources"). A page without records ends the
    scan too, so a source that never says `last` cannot loop. The date windows that keep a voucher
    pull under the list's 10,000 results are the accounting connector's (`fetch_windowed`)."""

    def __init__(self, size: int):
        self.size = size
        self.page = 0

    def arguments(self) -> dict[str, int]:
        """The query of the next request."""
        return {"page": self.page, "size": self.size}

    def advance(self, body: Any) -> bool:
        """Move past the page `body`; False when it was the last one."""
        if not isinstance(body, dict) or body.get("last", True) or not body.get("content"):
            return False
        self.page += 1
        return True

