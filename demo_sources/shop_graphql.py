"""The shop's records in the shape of Shopify's GraphQL Admin API, converted from the REST/webhook shape.

The demo stores shop records as the REST Admin API and webhooks write them (snake_case, numeric ids),
which is also the replay format (`shop/*.jsonl`) and the shape of published sample payloads. The
GraphQL endpoint serves each stored record converted to the node a GraphQL query of the connector's
selection would return (camelCase fields, `gid://shopify/<Type>/<n>` ids, money bags with
`shopMoney` and `presentmentMoney`, upper-case enums, nested connections as `{"nodes": [...]}`).
One conversion serves generated worlds, old replay directories and real REST exports alike.

Fields of the demo world that Shopify does not have (`guest`, `birthday`, `shipping_price`) are
mapped to what a real shop holds: a guest is a customer without an account (`state: DISABLED`), the
birthday is the standard customer metafield `facts.birth_date`, the shipping price is one shipping
line. See docs/source_protocol.md (A1).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

GID = "gid://shopify/"


def gid(kind: str, value: Any) -> str | None:
    """`gid://shopify/<kind>/<n>` of a REST integer id (None stays None; a gid stays as it is)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and value.startswith(GID):
        return value
    return f"{GID}{kind}/{value}"


def dt(value: Any) -> Any:
    """A GraphQL `DateTime`: ISO 8601 in UTC with `Z`. A value that is no offset date-time stays as it is
    (the landing names it when it quarantines the record)."""
    if not isinstance(value, str) or len(value) < 19 or value[10] not in "Tt":
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _enum(value: Any) -> Any:
    return value.upper() if isinstance(value, str) and value else value


def _money(amount: Any, currency: Any) -> dict | None:
    if amount is None:
        return None
    return {"amount": str(amount), "currencyCode": currency}


def money_bag(rec: dict, field: str, currency: Any, presentment: Any = None) -> dict | None:
    """A `MoneyBag` from REST `<field>_set` when present, else from `<field>` in the shop currency."""
    bag = rec.get(field + "_set")
    if isinstance(bag, dict):
        shop, pres = bag.get("shop_money") or {}, bag.get("presentment_money") or {}
        return {"shopMoney": _money(shop.get("amount"), shop.get("currency_code")),
                "presentmentMoney": _money(pres.get("amount"), pres.get("currency_code"))}
    amount = rec.get(field)
    if amount is None:
        return None
    return {"shopMoney": _money(amount, currency), "presentmentMoney": _money(amount, presentment or currency)}


def mailing_address(addr: Any) -> dict | None:
    if not isinstance(addr, dict):
        return None
    return {"firstName": addr.get("first_name"), "lastName": addr.get("last_name"), "company": addr.get("company"),
            "address1": addr.get("address1"), "address2": addr.get("address2"), "zip": addr.get("zip"),
            "city": addr.get("city"), "province": addr.get("province"), "provinceCode": addr.get("province_code"),
            "country": addr.get("country"), "countryCodeV2": addr.get("country_code"), "phone": addr.get("phone")}


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(t) for t in value]
    if not isinstance(value, str):
        return []
    return [t.strip() for t in value.split(",") if t.strip()]


def _consent(rec: dict) -> dict | None:
    consent = rec.get("email_marketing_consent")
    if isinstance(consent, dict):
        return {"marketingState": _enum(consent.get("state")), "marketingOptInLevel": _enum(consent.get("opt_in_level")),
                "consentUpdatedAt": dt(consent.get("consent_updated_at"))}
    if isinstance(rec.get("accepts_marketing"), bool):  # REST before 2022-04
        return {"marketingState": "SUBSCRIBED" if rec["accepts_marketing"] else "NOT_SUBSCRIBED",
                "marketingOptInLevel": None, "consentUpdatedAt": dt(rec.get("accepts_marketing_updated_at"))}
    return None


def customer_node(rec: dict) -> Any:
    """A `Customer` node of a REST customer."""
    if not isinstance(rec, dict):
        return rec
    state = _enum(rec.get("state"))
    if rec.get("guest") is True:  # the demo's guest checkout customer: no account
        state = "DISABLED" if state in (None, "ENABLED") else state
    addresses = rec.get("addresses")
    if not isinstance(addresses, list):
        addresses = [rec["default_address"]] if isinstance(rec.get("default_address"), dict) else []
    consent = _consent(rec)
    email, phone = rec.get("email"), rec.get("phone")
    birthday = rec.get("birthday")
    return {
        "id": gid("Customer", rec.get("id")), "legacyResourceId": None if rec.get("id") is None else str(rec["id"]),
        "firstName": rec.get("first_name"), "lastName": rec.get("last_name"),
        "defaultEmailAddress": None if email is None else {
            "emailAddress": email, "marketingState": (consent or {}).get("marketingState")},
        "defaultPhoneNumber": None if phone is None else {"phoneNumber": phone},
        "state": state, "verifiedEmail": rec.get("verified_email"), "tags": _tags(rec.get("tags")),
        "note": rec.get("note"), "emailMarketingConsent": consent,
        "birthDate": None if birthday is None else {"value": birthday},
        "defaultAddress": mailing_address(rec.get("default_address")),
        "addresses": [mailing_address(a) for a in addresses if isinstance(a, dict)],
        "createdAt": dt(rec.get("created_at")), "updatedAt": dt(rec.get("updated_at")),
    }


def _line_item(item: dict, currency: Any, presentment: Any, kind: str = "LineItem") -> dict:
    price = money_bag(item, "price", currency, presentment)
    return {"id": gid(kind, item.get("id")), "sku": item.get("sku"), "title": item.get("title"),
            "name": item.get("name"), "quantity": item.get("quantity"), "originalUnitPriceSet": price,
            "product": None if item.get("product_id") is None else {"id": gid("Product", item["product_id"])},
            "variant": None if item.get("variant_id") is None else {"id": gid("ProductVariant", item["variant_id"])}}


def _shipping_lines(rec: dict, currency: Any, presentment: Any) -> list[dict]:
    lines = rec.get("shipping_lines")
    if isinstance(lines, list):
        return [{"title": s.get("title"), "code": s.get("code"), "source": s.get("source"),
                 "originalPriceSet": money_bag(s, "price", currency, presentment)}
                for s in lines if isinstance(s, dict)]
    if rec.get("shipping_price") is not None:  # the earlier demo shape: one standard shipping line
        return [{"title": "Standardversand", "code": "standard", "source": "shopify",
                 "originalPriceSet": money_bag(rec, "shipping_price", currency, presentment)}]
    return []


def _transaction(tx: dict, currency: Any, presentment: Any, gateway: Any) -> dict:
    return {"id": gid("OrderTransaction", tx.get("id")), "kind": _enum(tx.get("kind")), "status": _enum(tx.get("status")),
            "gateway": tx.get("gateway") or gateway, "processedAt": dt(tx.get("processed_at") or tx.get("created_at")),
            "amountSet": money_bag(tx, "amount", tx.get("currency") or currency, presentment)}


def _refund_line(line: dict, currency: Any, presentment: Any) -> dict:
    subtotal = line.get("subtotal")
    item = line.get("line_item") if isinstance(line.get("line_item"), dict) else {}
    if subtotal is None and "subtotal_set" not in line and item.get("price") is not None:
        # a REST refund line without `subtotal`: the line's price times the refunded quantity
        subtotal = f"{float(item['price']) * (line.get('quantity') or 0) - float(item.get('total_discount') or 0):.2f}"
    bag = money_bag(dict(line, subtotal=subtotal), "subtotal", currency, presentment)
    return {"id": gid("RefundLineItem", line.get("id")), "quantity": line.get("quantity"),
            "lineItem": {"id": gid("LineItem", line.get("line_item_id") or item.get("id"))}, "subtotalSet": bag}


def _refund(ref: dict, currency: Any, presentment: Any, gateway: Any) -> dict:
    txs = [_transaction(t, currency, presentment, gateway) for t in ref.get("transactions") or [] if isinstance(t, dict)]
    refunded = sum(float(t["amountSet"]["shopMoney"]["amount"]) for t in txs
                   if t["kind"] == "REFUND" and t["status"] == "SUCCESS" and t["amountSet"])
    return {"id": gid("Refund", ref.get("id")), "createdAt": dt(ref.get("created_at")), "note": ref.get("note"),
            "totalRefundedSet": {"shopMoney": _money(f"{refunded:.2f}", currency),
                                 "presentmentMoney": _money(f"{refunded:.2f}", presentment or currency)},
            "refundLineItems": {"nodes": [_refund_line(r, currency, presentment)
                                          for r in ref.get("refund_line_items") or [] if isinstance(r, dict)]},
            "transactions": {"nodes": txs}}


def _order_transactions(rec: dict, currency: Any, presentment: Any, gateway: Any) -> list[dict]:
    """REST embeds no transactions in an order: the demo derives the payment from the financial status."""
    if isinstance(rec.get("transactions"), list):
        return [_transaction(t, currency, presentment, gateway) for t in rec["transactions"] if isinstance(t, dict)]
    status = rec.get("financial_status")
    kind = {"paid": "SALE", "partially_refunded": "SALE", "refunded": "SALE", "authorized": "AUTHORIZATION"}.get(status)
    if kind is None or rec.get("total_price") is None:
        return []
    return [{"id": None, "kind": kind, "status": "SUCCESS", "gateway": gateway, "processedAt": dt(rec.get("processed_at") or rec.get("updated_at")),
             "amountSet": money_bag(rec, "total_price", currency, presentment)}]


def order_node(rec: dict) -> Any:
    """An `Order` node of a REST order (refunds, transactions and line items nested)."""
    if not isinstance(rec, dict):
        return rec
    cur = rec.get("currency")
    pres = rec.get("presentment_currency") or cur
    gateways = rec.get("payment_gateway_names")
    if not isinstance(gateways, list):
        gateways = [rec["gateway"]] if rec.get("gateway") else []
    gateway = gateways[0] if gateways else None
    customer = rec.get("customer")
    shipping = _shipping_lines(rec, cur, pres)
    ship_total = rec.get("total_shipping_price_set")
    if ship_total is None:
        amount = sum(float(s["originalPriceSet"]["shopMoney"]["amount"]) for s in shipping if s["originalPriceSet"])
        ship_total = {"shop_money": {"amount": f"{amount:.2f}", "currency_code": cur},
                      "presentment_money": {"amount": f"{amount:.2f}", "currency_code": pres}}
    refunds = [_refund(r, cur, pres, gateway) for r in rec.get("refunds") or [] if isinstance(r, dict)]
    return {
        "id": gid("Order", rec.get("id")), "legacyResourceId": None if rec.get("id") is None else str(rec["id"]),
        "name": rec.get("name"), "email": rec.get("email"), "phone": rec.get("phone"),
        "customer": {"id": gid("Customer", customer.get("id"))} if isinstance(customer, dict) else None,
        "createdAt": dt(rec.get("created_at")), "processedAt": dt(rec.get("processed_at") or rec.get("created_at")),
        "updatedAt": dt(rec.get("updated_at")), "cancelledAt": dt(rec.get("cancelled_at")),
        "cancelReason": _enum(rec.get("cancel_reason")), "test": rec.get("test"),
        "displayFinancialStatus": _enum(rec.get("financial_status")),
        "currencyCode": cur, "presentmentCurrencyCode": pres,
        "totalPriceSet": money_bag(rec, "total_price", cur, pres),
        "subtotalPriceSet": money_bag(rec, "subtotal_price", cur, pres),
        "totalTaxSet": money_bag(rec, "total_tax", cur, pres),
        "totalDiscountsSet": money_bag(rec, "total_discounts", cur, pres),
        "totalShippingPriceSet": money_bag({"x_set": ship_total}, "x", cur, pres),
        "paymentGatewayNames": gateways,
        "billingAddress": mailing_address(rec.get("billing_address")),
        "shippingAddress": mailing_address(rec.get("shipping_address")),
        "refunds": refunds,
        "transactions": _order_transactions(rec, cur, pres, gateway),
        # the connections last, as the connector's selection has them
        "lineItems": {"nodes": [_line_item(i, cur, pres) for i in rec.get("line_items") or [] if isinstance(i, dict)]},
        "shippingLines": {"nodes": shipping},
    }


def checkout_node(rec: dict) -> Any:
    """An `AbandonedCheckout` node of a REST checkout."""
    if not isinstance(rec, dict):
        return rec
    cur = rec.get("currency") or rec.get("presentment_currency") or "EUR"
    customer = rec.get("customer")
    cust = None
    if isinstance(customer, dict):
        email = customer.get("email") or rec.get("email")
        cust = {"id": gid("Customer", customer.get("id")),
                "defaultEmailAddress": None if email is None else {"emailAddress": email}}
    return {
        "id": gid("AbandonedCheckout", rec.get("id")), "name": rec.get("name") or (
            None if rec.get("id") is None else f"#{rec['id']}"),
        "abandonedCheckoutUrl": rec.get("abandoned_checkout_url") or (
            f"https://demo-shop.myshopify.com/checkouts/{rec['token']}/recover" if rec.get("token") else None),
        "createdAt": dt(rec.get("created_at")), "updatedAt": dt(rec.get("updated_at")), "completedAt": dt(rec.get("completed_at")),
        "customer": cust,
        "totalPriceSet": money_bag(rec, "total_price", cur, rec.get("presentment_currency") or cur),
        "lineItems": {"nodes": [_line_item(i, cur, cur, "AbandonedCheckoutLineItem")
                                for i in rec.get("line_items") or [] if isinstance(i, dict)]},
    }


NODES = {"customers": customer_node, "orders": order_node, "abandonedCheckouts": checkout_node}
_BY_KEY = {"shop/customers": customer_node, "shop/orders": order_node, "shop/checkouts": checkout_node}


def as_fetched(key: str, record: Any) -> Any:
    """A stored record as the connector receives it: shop records as GraphQL nodes, others unchanged."""
    convert = _BY_KEY.get(key)
    return record if convert is None else convert(record)
