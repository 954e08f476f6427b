"""Authentication strategies the connectors share: each gives the headers (or requests auth) a system's
API expects. Sections per system."""

from __future__ import annotations


# --- shop (Shopify) ----------------------------------------------------------------------------------

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
