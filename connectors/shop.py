"""Shop connector: Shopify's GraphQL Admin API (docs/source_protocol.md, A1).

`POST /admin/api/<version>/graphql.json` with `X-Shopify-Access-Token`; the version is the setting
`C360_SHOP_API_VERSION`. Each resource is one connection (`customers`, `orders`,
`abandonedCheckouts`) read with `first`/`after`, `sortKey: UPDATED_AT` and, for an increment, the
search filter `updated_at:>='<watermark>'` (inclusive: records sharing the watermark's second are read
again, which the landing's upsert makes harmless). Pages follow `pageInfo { hasNextPage endCursor }`.

Raw records are the GraphQL nodes as received (camelCase, `gid://shopify/<Type>/<n>` ids); the landing
id is the gid's numeric tail, the same number as the node's `legacyResourceId` and the REST/webhook
`id`. Watermark = the greatest `updatedAt` landed, as the shop wrote it, that is not after the clock
when its page arrived (a future-dated record never moves it).

Throttling is Shopify's calculated query cost: every answer reports `extensions.cost.throttleStatus`
(`maximumAvailable`, `currentlyAvailable`, `restoreRate`). A `THROTTLED` error (HTTP 200, no data) is
retried after the bucket has refilled by the query's cost at `restoreRate`; when the bucket reported
by the last answer cannot pay for the next page, the client waits before asking. Any other GraphQL
error stops the sync with the errors' messages and codes.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Callable, Iterator

from c360.settings import DEFAULT_FUTURE_TOLERANCE, SourceCredentials, shop_api_version, shop_bulk_after_days

from .auth import ShopifyAccessTokenAuth
from .base import MalformedRecord, Page, RequestStats, ResourceSpec, last_valid, parse_iso_offset, resource
from .errors import SourceError, SourceRequestError, SourceUnavailableError
from .http import HttpClient, Response
from .paginators import GraphqlConnectionPaginator
from .shop_bulk import bulk_due, fetch_bulk

log = logging.getLogger(__name__)

PAGE_SIZE = 250  # the largest `first` Shopify accepts
ORDERS_PAGE_SIZE = 50  # orders carry nested connections: smaller pages keep a query's cost low
MAX_THROTTLED_RETRIES = 30
BULK_MAX_WAIT = 24 * 3600.0  # seconds a bulk operation may take before the sync gives up on it
_FROM_SETTINGS: Any = object()

RESOURCES: dict[str, ResourceSpec] = {
    "customers": resource("shop", "customers", "shop_customers", "updatedAt"),
    "orders": resource("shop", "orders", "shop_orders", "updatedAt"),
    "checkouts": resource("shop", "checkouts", "shop_checkouts", "updatedAt"),
}
CONNECTIONS = {"customers": "customers", "orders": "orders", "checkouts": "abandonedCheckouts"}
# Resources whose deletions the landing notices by reconciling ids (docs/source_protocol.md A1):
# Shopify deletes customers and orders outright and has no deletion feed for them.
RECONCILED = ("customers", "orders")

_FRAGMENTS = """
fragment Bag on MoneyBag { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
fragment Address on MailingAddress {
  firstName lastName company address1 address2 zip city province provinceCode country countryCodeV2 phone
}"""

_CUSTOMER = """
  id legacyResourceId firstName lastName
  defaultEmailAddress { emailAddress marketingState }
  defaultPhoneNumber { phoneNumber }
  state verifiedEmail tags note
  emailMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }
  birthDate: metafield(namespace: "facts", key: "birth_date") { value }
  defaultAddress { ...Address }
  addresses { ...Address }
  createdAt updatedAt"""

_LINE_ITEM = "id sku title name quantity originalUnitPriceSet { ...Bag } product { id } variant { id }"
_SHIPPING_LINE = "title code source originalPriceSet { ...Bag }"
_CHECKOUT_LINE_ITEM = "id sku title quantity originalUnitPriceSet { ...Bag } product { id } variant { id }"


def paged_connection(field: str, node_fields: str) -> str:
    """A nested connection read in one page of the largest size (a paginated query)."""
    return f"{field}(first: 250) {{\n    nodes {{ {node_fields} }}\n  }}"


def bulk_connection(field: str, node_fields: str) -> str:
    """A nested connection in a bulk query: no `first` (the export has them all), and `__typename`,
    which tells the rows of each connection apart once the JSONL has flattened them."""
    return f"{field} {{\n    edges {{ node {{ __typename {node_fields} }} }}\n  }}"


def order_fields(connection: Callable[[str, str], str]) -> str:
    """The `Order` selection; `connection` renders its line items and shipping lines (paged or bulk), the
    last fields, where a bulk export's rows are put back (`FLATTENED`). `refunds` and `transactions` are
    lists, not connections: they stay inside the order either way."""
    return f"""
  id legacyResourceId name email phone customer {{ id }}
  createdAt processedAt updatedAt cancelledAt cancelReason test displayFinancialStatus
  currencyCode presentmentCurrencyCode
  totalPriceSet {{ ...Bag }} subtotalPriceSet {{ ...Bag }} totalTaxSet {{ ...Bag }}
  totalDiscountsSet {{ ...Bag }} totalShippingPriceSet {{ ...Bag }}
  paymentGatewayNames
  billingAddress {{ ...Address }} shippingAddress {{ ...Address }}
  refunds(first: 250) {{
    id createdAt note totalRefundedSet {{ ...Bag }}
    refundLineItems(first: 250) {{ nodes {{ id quantity lineItem {{ id }} subtotalSet {{ ...Bag }} }} }}
    transactions(first: 250) {{ nodes {{ id kind status gateway processedAt amountSet {{ ...Bag }} }} }}
  }}
  transactions(first: 250) {{ id kind status gateway processedAt amountSet {{ ...Bag }} }}
  {connection("lineItems", _LINE_ITEM)}
  {connection("shippingLines", _SHIPPING_LINE)}"""


def checkout_fields(connection: Callable[[str, str], str]) -> str:
    """The `AbandonedCheckout` selection; `connection` renders its line items."""
    return f"""
  id name abandonedCheckoutUrl createdAt updatedAt completedAt
  customer {{ id defaultEmailAddress {{ emailAddress }} }}
  totalPriceSet {{ ...Bag }}
  {connection("lineItems", _CHECKOUT_LINE_ITEM)}"""


_ORDER = order_fields(paged_connection)
_CHECKOUT = checkout_fields(paged_connection)
# Per resource, the nested connections a bulk export flattens into rows of their own: (field, the rows'
# `__typename`). They are the last fields of the selection, so the rows are put back at the end of
# their node, and a node has the same fields in the same order whichever way it was read.
FLATTENED: dict[str, tuple[tuple[str, str], ...]] = {
    "customers": (),
    "orders": (("lineItems", "LineItem"), ("shippingLines", "ShippingLine")),
    "checkouts": (("lineItems", "AbandonedCheckoutLineItem"),),
}
NODE_FIELDS = {"customers": lambda connection: _CUSTOMER, "orders": order_fields, "checkouts": checkout_fields}
FRAGMENTS = _FRAGMENTS


def connection_query(connection: str, node_fields: str) -> str:
    """A query document reading one page of `connection`, oldest change first."""
    return (f"query Page($first: Int!, $after: String, $query: String) {{\n"
            f"  {connection}(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {{\n"
            f"    nodes {{{node_fields}\n    }}\n"
            f"    pageInfo {{ hasNextPage endCursor }}\n  }}\n}}\n{_FRAGMENTS}")


QUERIES = {
    "customers": connection_query("customers", _CUSTOMER),
    "orders": connection_query("orders", _ORDER),
    "checkouts": connection_query("abandonedCheckouts", _CHECKOUT),
}
# Every id of a connection, in id order: the cheapest query that lists what exists (a node of one
# scalar costs a point), for the reconciliation that notices deletions.
ID_QUERIES = {
    resource: (f"query Ids($first: Int!, $after: String) {{\n"
               f"  {CONNECTIONS[resource]}(first: $first, after: $after, sortKey: ID) {{\n"
               f"    nodes {{ id }}\n    pageInfo {{ hasNextPage endCursor }}\n  }}\n}}")
    for resource in RECONCILED
}


def graphql_errors(body: Any) -> list[dict]:
    """The `errors` of a GraphQL answer (Shopify also writes a bare string there)."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return []
    if isinstance(errors, list):
        return [e if isinstance(e, dict) else {"message": str(e)} for e in errors]
    return [{"message": str(errors)}]


def _code(error: dict) -> str | None:
    ext = error.get("extensions")
    return ext.get("code") if isinstance(ext, dict) else None


def throttle_status(body: Any) -> dict | None:
    ext = body.get("extensions") if isinstance(body, dict) else None
    cost = ext.get("cost") if isinstance(ext, dict) else None
    status = cost.get("throttleStatus") if isinstance(cost, dict) else None
    return cost if isinstance(status, dict) else None


def refill_wait(cost: dict | None, needed: float | None = None) -> float:
    """Seconds until the bucket holds `needed` points (default: the query's requested cost)."""
    if not cost:
        return 1.0
    status = cost["throttleStatus"]
    try:
        rate = float(status.get("restoreRate") or 0)
        available = float(status.get("currentlyAvailable") or 0)
        needed = float(needed if needed is not None else cost.get("requestedQueryCost") or 0)
    except (TypeError, ValueError):
        return 1.0
    if rate <= 0:
        return 1.0
    return max(0.0, (needed - available) / rate)


class ShopClient:
    system = "shop"
    resources = RESOURCES
    reconciled = RECONCILED

    def __init__(self, base_url: str, credentials: SourceCredentials, *, timeout: float = 30.0,
                 max_retries: int = 8, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
                 page_size: int = PAGE_SIZE, api_version: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, bulk_after_days: float | None = _FROM_SETTINGS,
                 bulk_poll_interval: float = 0.25, bulk_max_wait: float = BULK_MAX_WAIT):
        """`bulk_after_days`: run a bulk operation without a watermark or one older than this many days
        (None: always paginate; default `C360_SHOP_BULK_AFTER_DAYS`)."""
        self.stats = RequestStats()
        self.page_size = page_size
        self.future_tolerance = future_tolerance
        self.timeout = timeout
        self.max_retries = max_retries
        if bulk_after_days is _FROM_SETTINGS:
            bulk_after_days = shop_bulk_after_days()
        self.bulk_after = None if bulk_after_days is None else timedelta(days=bulk_after_days)
        self.bulk_poll_interval = bulk_poll_interval
        self.bulk_max_wait = bulk_max_wait
        self.api_version = api_version or shop_api_version()
        self.path = f"/admin/api/{self.api_version}/graphql.json"
        self.sleep = sleep
        self._last_cost: dict | None = None
        auth = ShopifyAccessTokenAuth(credentials.shop_token)
        self.http = HttpClient("shop", base_url, headers=auth.headers(), timeout=timeout,
                               max_retries=max_retries, stats=self.stats, sleep=sleep)

    def page_size_of(self, resource: str) -> int:
        return min(self.page_size, ORDERS_PAGE_SIZE) if resource == "orders" else self.page_size

    def query(self, document: str, variables: dict) -> Response:
        """One GraphQL call: THROTTLED answers are retried once the bucket has refilled; other errors raise."""
        endpoint = f"POST {self.path}"
        for attempt in range(MAX_THROTTLED_RETRIES + 1):
            if self._last_cost is not None:
                wait = refill_wait(self._last_cost)
                if wait > 0:
                    self.sleep(wait)
            response = self.http.post(self.path, {"query": document, "variables": variables})
            body = response.body
            self._last_cost = throttle_status(body)
            errors = graphql_errors(body)
            if errors and all(_code(e) == "THROTTLED" for e in errors):
                self.stats.throttled += 1
                self.stats.retries += 1
                wait = refill_wait(self._last_cost)
                log.debug("shop: %s throttled (query cost), retry %d after %.2fs", endpoint, attempt + 1, wait)
                self.sleep(max(wait, 0.05))
                self._last_cost = None
                continue
            if errors:
                detail = "; ".join(f"{e.get('message')}" + (f" [{_code(e)}]" if _code(e) else "") for e in errors)
                raise SourceRequestError(f"shop: GraphQL errors at {endpoint}: {detail}", system="shop",
                                         endpoint=endpoint, status=200)
            return response
        raise SourceUnavailableError.exhausted("shop", endpoint, MAX_THROTTLED_RETRIES + 1,
                                               "GraphQL THROTTLED (query cost above the available points)", status=200)

    def fetch(self, resource: str, watermark: str | None) -> Iterator[Page]:
        """The records changed since `watermark`: a bulk operation for a first sync or a long gap
        (`connectors.shop_bulk`), else the paginated connection."""
        if bulk_due(watermark, self.bulk_after):
            return fetch_bulk(self, resource, watermark)
        return self.paginate(resource, watermark)

    def live_ids(self, resource: str) -> Iterator[list[str]]:
        """Every id the shop holds now of `resource` (numeric, as landed), a page at a time."""
        paginator = GraphqlConnectionPaginator(CONNECTIONS[resource])
        variables: dict[str, Any] = {"first": PAGE_SIZE, "after": None}
        while True:
            body = self.query(ID_QUERIES[resource], variables).body
            nodes = paginator.nodes(body)
            if not isinstance(nodes, list):
                raise SourceError(f"shop: unexpected response listing {resource} ids: data.{paginator.connection}"
                                  f".nodes is not a list", system="shop", endpoint=f"POST {self.path}", status=200)
            yield [i for i in map(self._live_id(resource), nodes) if i is not None]
            cursor = paginator.next_cursor(body)
            if not cursor or not nodes:
                return
            variables = dict(variables, after=cursor)

    def _live_id(self, resource: str) -> Callable[[Any], str | None]:
        spec = self.resources[resource]

        def read(node: Any) -> str | None:
            try:
                return spec.record_id(node)
            except MalformedRecord:  # a record without a usable id was quarantined, never landed
                return None
        return read

    def paginate(self, resource: str, watermark: str | None) -> Iterator[Page]:
        spec = self.resources[resource]
        paginator = GraphqlConnectionPaginator(CONNECTIONS[resource])
        variables: dict[str, Any] = {"first": self.page_size_of(resource), "after": None, "query": None}
        best = None
        if watermark:
            try:
                best = parse_iso_offset(watermark, "watermark")
            except MalformedRecord as exc:
                raise ValueError(f"shop/{resource}: stored watermark is unusable: {exc}") from None
            variables["query"] = f"updated_at:>='{watermark}'"
        while True:
            response = self.query(QUERIES[resource], variables)
            read_at = datetime.now(UTC)
            records = paginator.nodes(response.body)
            if not isinstance(records, list):
                raise SourceError(f"shop: unexpected response at POST {self.path}: data.{paginator.connection}.nodes "
                                  f"is not a list; is the base URL pointing at the shop's Admin API?",
                                  system="shop", endpoint=f"POST {self.path}", status=200)
            new_wm = None
            rec, marker = last_valid(records, spec, not_after=read_at)
            if rec is not None and (best is None or marker > best):
                best = marker
                new_wm = rec.get(spec.version_field)
            yield Page(records, new_wm, response.content, paginator.records_path(),
                       future_after=read_at + self.future_tolerance)
            cursor = paginator.next_cursor(response.body)
            if not cursor or not records:
                return
            variables = dict(variables, after=cursor)

    def close(self) -> None:
        self.http.close()
