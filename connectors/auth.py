"""Authentication strategies of the source connectors, one small class per scheme (as dlt's REST
client has them): each gives the headers (or the credentials) a system's API expects. Each system keeps
its classes in its own section below."""

from __future__ import annotations

from typing import Callable


# --------------------------------------------------------------------------------------------------
# ERP (Odoo)
# --------------------------------------------------------------------------------------------------
class OdooBearerAuth:
    """Odoo 19+ JSON-2: `Authorization: bearer <api key>`, plus `X-Odoo-Database` when a database is
    configured (a server hosting several databases needs it)."""

    def __init__(self, api_key: str, database: str = ""):
        self.api_key = api_key
        self.database = database

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"bearer {self.api_key}"}
        if self.database:
            headers["X-Odoo-Database"] = self.database
        return headers

    def __repr__(self) -> str:
        return f"OdooBearerAuth(<redacted>, database={self.database!r})"


class OdooXmlRpcAuth:
    """Odoo 16-18 XML-RPC: `common.authenticate(db, login, api key, {})` gives the user id once; every
    `object.execute_kw` call then carries `(db, uid, api key)`."""

    def __init__(self, database: str, login: str, api_key: str):
        self.database = database
        self.login = login
        self.api_key = api_key
        self.uid: int | None = None

    def credentials(self, authenticate: Callable[[tuple], object]) -> tuple[str, int, str]:
        """`(db, uid, key)`, authenticating through `authenticate(args)` on first use. A falsy answer
        (Odoo's `False` for a wrong login or key) raises PermissionError."""
        if self.uid is None:
            uid = authenticate((self.database, self.login, self.api_key, {}))
            if not isinstance(uid, int) or isinstance(uid, bool) or uid <= 0:
                raise PermissionError(f"authenticate({self.database!r}, {self.login!r}, ...) answered {uid!r}")
            self.uid = uid
        return self.database, self.uid, self.api_key

    def __repr__(self) -> str:
        return f"OdooXmlRpcAuth(database={self.database!r}, login={self.login!r}, <redacted>)"


# --------------------------------------------------------------------------------------------------
# shop (Shopify)
# --------------------------------------------------------------------------------------------------
class ShopifyAccessTokenAuth:
    """Shopify Admin API: the app's access token in the `X-Shopify-Access-Token` header
    (https://shopify.dev/docs/api/admin-graphql#authentication)."""

    header = "X-Shopify-Access-Token"

    def __init__(self, token: str):
        self._token = token

    def headers(self) -> dict[str, str]:
        return {self.header: self._token}

    def __repr__(self) -> str:
        return "ShopifyAccessTokenAuth(<redacted>)"
