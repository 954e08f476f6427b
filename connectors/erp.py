"""ERP connector (Odoo external API): JSON-2 for Odoo 19+, XML-RPC for Odoo 16-18.

`C360_ERP_PROTOCOL` picks the protocol (docs/source_protocol.md A2):
- `json2`: `POST /json/2/{model}/search_read` with `Authorization: bearer <key>` (and
  `X-Odoo-Database` when `C360_ERP_DATABASE` is set), the method's named arguments as the JSON body;
- `xmlrpc`: `/xmlrpc/2/common` `authenticate(db, login, key, {})` -> uid, then `/xmlrpc/2/object`
  `execute_kw(db, uid, key, model, 'search_read', [domain], {fields, offset, limit, order, context})`,
  marshalled with the standard library's `xmlrpc.client` and sent over the same HTTP layer (retries,
  timeouts and request stats as for JSON-2). Faults come back with HTTP 200: code 3 (AccessDenied)
  and 4 (AccessError) are auth errors, any other a request error naming the fault.
Both read the same explicit field list (the standard fields, intersected with what `fields_get`
reports on this install, plus the custom fields configured by name) with `context.active_test=false`
(archived partners too), so a record lands the same whichever protocol read it.

Paging (connectors.paginators.OdooKeysetPaginator): from `[["write_date", ">=", W]]` (inclusive), by
keyset on (write_date, id), order "write_date asc, id asc", ANDed with the model's fixed terms
(`BASE_DOMAINS`: customer credit notes `account.move` with `move_type = out_refund`, and their product
lines `account.move.line`). Watermark = the last `write_date` landed
(naive UTC "YYYY-MM-DD HH:MM:SS") that is not after the clock when its page arrived.
"""

from __future__ import annotations

import logging
import xmlrpc.client
from datetime import UTC, datetime, timedelta
from typing import Any, Iterator

from c360.settings import DEFAULT_FUTURE_TOLERANCE, ErpOptions, SourceCredentials

from .auth import OdooBearerAuth, OdooXmlRpcAuth
from .base import (MalformedRecord, Page, RequestStats, ResourceSpec, expect_records, last_valid,
                   parse_erp_datetime, records_path, resource)
from .errors import SourceAuthError, SourceError, SourceRequestError
from .http import HttpClient
from .paginators import OdooKeysetPaginator, keyset_domain

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
ORDER = OdooKeysetPaginator.ORDER

RESOURCES: dict[str, ResourceSpec] = {
    "res.partner": resource("erp", "res.partner", "erp_partners", "write_date"),
    "sale.order": resource("erp", "sale.order", "erp_sale_orders", "write_date"),
    "sale.order.line": resource("erp", "sale.order.line", "erp_sale_order_lines", "write_date"),
    "product.product": resource("erp", "product.product", "erp_products", "write_date"),
    # Returns and refunds are customer credit notes in standard Odoo (docs/source_protocol.md A2)
    "account.move": resource("erp", "account.move", "erp_credit_notes", "write_date"),
    "account.move.line": resource("erp", "account.move.line", "erp_credit_note_lines", "write_date"),
}

# Fixed domain terms per model, ANDed with the paging keyset: only customer credit notes
# (`move_type` out_refund; on account.move.line the related field of its move) and only their product
# lines (no tax, payment-term, section or note lines).
BASE_DOMAINS: dict[str, tuple[list, ...]] = {
    "account.move": (["move_type", "=", "out_refund"],),
    "account.move.line": (["move_type", "=", "out_refund"], ["display_type", "=", "product"]),
}

# Standard Odoo fields read per model (Odoo 16-19 `fields_get`; a field this install lacks, such as
# `mobile` on res.partner since 18, is left out after asking `fields_get`). `id` always comes back.
STANDARD_FIELDS: dict[str, tuple[str, ...]] = {
    "res.partner": ("name", "is_company", "parent_id", "commercial_company_name", "company_name", "type", "ref",
                    "email", "phone", "mobile", "street", "street2", "zip", "city", "state_id", "country_id",
                    "vat", "lang", "comment", "customer_rank", "active", "create_date", "write_date"),
    "sale.order": ("name", "partner_id", "client_order_ref", "origin", "state", "date_order", "amount_untaxed",
                   "amount_tax", "amount_total", "currency_id", "team_id", "user_id", "invoice_status",
                   "company_id", "create_date", "write_date"),
    "sale.order.line": ("order_id", "product_id", "name", "product_uom_qty", "qty_delivered", "qty_invoiced",
                        "price_unit", "discount", "price_subtotal", "price_tax", "price_total", "currency_id",
                        "state", "create_date", "write_date"),
    "product.product": ("default_code", "name", "barcode", "categ_id", "list_price", "standard_price", "active",
                        "create_date", "write_date"),
    "account.move": ("name", "move_type", "state", "partner_id", "commercial_partner_id", "invoice_origin",
                     "reversed_entry_id", "ref", "invoice_date", "date", "currency_id", "amount_untaxed",
                     "amount_tax", "amount_total", "payment_state", "company_id", "create_date", "write_date"),
    # `sale_line_ids` comes with the sale app (the order lines a credit-note line refunds)
    "account.move.line": ("move_id", "move_name", "parent_state", "display_type", "product_id", "name", "quantity",
                          "price_unit", "discount", "price_subtotal", "price_total", "currency_id", "sale_line_ids",
                          "create_date", "write_date"),
}


def model_fields(model: str, options: ErpOptions) -> list[str]:
    """The standard fields of `model` plus the custom fields configured for it (by name)."""
    custom = {"res.partner": options.birthday_field, "sale.order.line": options.returned_qty_field}.get(model)
    return list(STANDARD_FIELDS[model]) + ([custom] if custom else [])


def _decode_xmlrpc(content: bytes) -> Any:
    """The value of an XML-RPC method response, or its `xmlrpc.client.Fault`; ValueError when unreadable."""
    try:
        (value,), _ = xmlrpc.client.loads(content, use_builtin_types=True)
    except xmlrpc.client.Fault as fault:
        return fault
    except Exception as exc:  # expat errors, a truncated or empty body, not one value
        raise ValueError(f"unreadable XML-RPC response: {exc}") from None
    return value


def _fault_error(fault: xmlrpc.client.Fault, endpoint: str) -> SourceError:
    """Odoo's `/xmlrpc/2` faults: 3 AccessDenied (login/key), 4 AccessError (rights), 2 UserError
    (warning), 1 anything else (with the server's traceback)."""
    text = str(fault.faultString or "").strip()
    detail = (text.splitlines() or [""])[-1][:300]
    if fault.faultCode in (3, 4):
        kind = "AccessDenied" if fault.faultCode == 3 else "AccessError"
        return SourceAuthError(f"erp: XML-RPC fault {fault.faultCode} ({kind}) at {endpoint}: {detail} — check "
                               "ERP_API_KEY, ERP_LOGIN and C360_ERP_DATABASE", system="erp", endpoint=endpoint)
    return SourceRequestError(f"erp: XML-RPC fault {fault.faultCode} at {endpoint}: {detail or '(no message)'}",
                              system="erp", endpoint=endpoint)


class ErpClient:
    system = "erp"
    resources = RESOURCES

    def __init__(self, base_url: str, credentials: SourceCredentials, *, timeout: float = 30.0,
                 max_retries: int = 8, future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
                 page_size: int = PAGE_SIZE, options: ErpOptions | None = None):
        self.options = options = options if options is not None else ErpOptions.from_env()
        self.stats = RequestStats()
        self.page_size = page_size
        self.future_tolerance = future_tolerance
        self._fields: dict[str, list[str]] = {}
        headers: dict[str, str] = {}
        if options.protocol == "xmlrpc":
            if not options.database or not options.login:
                raise ValueError("erp: the XML-RPC protocol needs C360_ERP_DATABASE (the database) and ERP_LOGIN "
                                 "(the user the API key belongs to)")
            self.xmlrpc_auth: OdooXmlRpcAuth | None = OdooXmlRpcAuth(options.database, options.login,
                                                                     credentials.erp_api_key)
        else:
            self.xmlrpc_auth = None
            headers = OdooBearerAuth(credentials.erp_api_key, options.database).headers()
        self.http = HttpClient("erp", base_url, headers=headers, timeout=timeout, max_retries=max_retries,
                               stats=self.stats)

    # --- transports -------------------------------------------------------------------------------
    def _xmlrpc(self, service: str, method: str, args: tuple, label: str) -> Any:
        path = f"/xmlrpc/2/{service}"
        payload = xmlrpc.client.dumps(args, method, allow_none=False).encode()
        response = self.http.request("POST", path, data=payload, content_type="text/xml", decode=_decode_xmlrpc)
        if isinstance(response.body, xmlrpc.client.Fault):
            raise _fault_error(response.body, f"POST {path} {label}")
        return response.body

    def call(self, model: str, method: str, args: list, kwargs: dict) -> tuple[Any, bytes | None, str]:
        """`model.method(*args, **kwargs)` over the configured protocol: (result, JSON body or None, endpoint)."""
        if self.xmlrpc_auth is None:
            path = f"/json/2/{model}/{method}"
            response = self.http.post(path, kwargs)  # JSON-2 takes only named arguments
            return response.body, response.content, f"POST {path}"
        auth = self.xmlrpc_auth
        try:
            db, uid, key = auth.credentials(
                lambda a: self._xmlrpc("common", "authenticate", a, "authenticate"))
        except PermissionError as exc:
            raise SourceAuthError(f"erp: POST /xmlrpc/2/common authenticate refused: {exc} — check ERP_API_KEY, "
                                  "ERP_LOGIN and C360_ERP_DATABASE", system="erp",
                                  endpoint="POST /xmlrpc/2/common authenticate") from None
        label = f"execute_kw {model}.{method}"
        return self._xmlrpc("object", "execute_kw", (db, uid, key, model, method, args, kwargs), label), None, \
            f"POST /xmlrpc/2/object {label}"

    def fields_for(self, model: str) -> list[str]:
        """The configured fields of `model` that this install has (asked once with `fields_get`)."""
        if model not in self._fields:
            wanted = model_fields(model, self.options)
            known, _, _ = self.call(model, "fields_get", [], {"attributes": ["type"]})
            if isinstance(known, dict) and known:
                custom = [f for f in wanted if f not in STANDARD_FIELDS[model] and f not in known]
                if custom:
                    log.warning("erp: %s has no field %s (configured custom field); it is not read",
                                model, ", ".join(custom))
                wanted = [f for f in wanted if f in known]
            self._fields[model] = wanted
        return self._fields[model]

    def fetch(self, resource: str, watermark: str | None) -> Iterator[Page]:
        spec = self.resources[resource]
        best = None
        if watermark:
            try:
                best = parse_erp_datetime(watermark, "watermark")
            except MalformedRecord as exc:
                raise ValueError(f"erp/{resource}: stored watermark is unusable: {exc}") from None
        fields = self.fields_for(resource)
        pager = OdooKeysetPaginator(spec, watermark or None, self.page_size, base=BASE_DOMAINS.get(resource, ()))
        while True:
            paging = pager.arguments()
            kwargs = {"domain": paging.pop("domain"), "fields": fields, **paging, "context": {"active_test": False}}
            if self.xmlrpc_auth is None:
                result, content, endpoint = self.call(resource, "search_read", [], kwargs)
            else:
                domain = kwargs.pop("domain")
                result, content, endpoint = self.call(resource, "search_read", [domain], kwargs)
            read_at = datetime.now(UTC)
            records = expect_records(result, None, "erp", endpoint)
            new_wm = None
            plausible, marker = last_valid(records, spec, not_after=read_at)
            if plausible is not None and (best is None or marker > best):
                best = marker
                new_wm = plausible["write_date"]
            yield Page(records, new_wm, content, records_path(None), future_after=read_at + self.future_tolerance)
            if not pager.advance(records):
                return

    def close(self) -> None:
        self.http.close()


__all__ = ["BASE_DOMAINS", "ErpClient", "ORDER", "PAGE_SIZE", "RESOURCES", "STANDARD_FIELDS", "keyset_domain", "model_fields"]
