"""customer_kpis and kpi_monthly against an independent computation from the demo sources' records.

The expected figures are computed here with pandas from the generated world (its API records, its
identity truth and its order-mirror truth), following DOMAIN.md, for the people whose identity was
resolved exactly (their golden cluster holds exactly their records). Money must match to the cent.
"""

import re
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import numpy as np
import pandas as pd
import pytest

CENT = Decimal("0.01")

# The cost assumptions as documented (dbt_project.yml vars, int_order_values.yml), EUR net: payment fee
# (rate x gross amount paid, fixed) per method the sources name; an order whose method is none of these (the
# accounting system only says how a payment was booked, e.g. `manualPayment`) costs no fee.
PAYMENT_FEES = {"paypal": ("0.0249", "0.35"), "credit_card": ("0.015", "0.25"), "card": ("0.015", "0.25"),
                "klarna_pay_later": ("0.0299", "0.35"), "sepa_debit": ("0", "0.35")}
SHIPPING_COST = Decimal("3.90")  # per parcel; a store sale ships none
RETURN_HANDLING = Decimal("5.00")  # per order with returned goods
COST_PER_TICKET = Decimal("4.00")
SHIPPING_SKU = "[VERSAND]"
# Lexware's sales voucher types: bookkeeping and the invoicing module (its API documentation)
INVOICE_TYPES = ("salesinvoice", "invoice")
CREDIT_NOTE_TYPES = ("salescreditnote", "creditnote")


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def payment_fee(method, gross: Decimal) -> Decimal:
    rate, fixed = PAYMENT_FEES.get(method, ("0", "0"))
    return money(gross * Decimal(rate) + Decimal(fixed))


@pytest.fixture(scope="module")
def built(pipeline_warehouse):
    path, world = pipeline_warehouse
    with duckdb.connect(str(path), read_only=True) as con:
        crosswalk = con.execute("select source_system, source_record_id, golden_customer_id "
                                "from marts.golden_customer_sources").df()
        kpis = con.execute("select * from marts.customer_kpis").df().set_index("golden_customer_id")
        monthly = con.execute("select * from marts.kpi_monthly").df()
        unresolved = con.execute("select * from marts.unresolved_facts").df()
    return world, crosswalk, kpis, monthly, unresolved


# an e-mail address as the pipeline's matching accepts one (local@domain.tld, no blanks, quotes or brackets)
EMAIL = re.compile(r'[^\s@"(),:;<>\[\]\\]+@([^\s@"(),:;<>\[\]\\.]+\.)+[^\s@"(),:;<>\[\]\\.0-9]{2,}')


def normalized_email(value) -> str | None:
    """Trimmed (non-breaking spaces too) and lower case; None unless it has the form of an address."""
    if not isinstance(value, str):
        return None
    email = re.sub(r"^[\s\u00a0]+|[\s\u00a0]+$", "", value).lower()
    return email if EMAIL.fullmatch(email) else None


def survey_answers(world) -> list[dict]:
    """The world's CSAT and NPS answers as DOMAIN.md counts them: the helpdesk's received satisfaction
    ratings (good or bad; offered and unoffered are no answer), dated by their creation, with their
    requester; and the NPS answers (0-10) of the survey tool's export, with the respondent's e-mail and
    shop customer reference as exported. Ids as text, as the fact keeps them."""
    answers = [{"user": r["requester_id"], "type": "csat", "score": r["score"], "at": pd.Timestamp(r["created_at"]),
                "id": str(r["id"])} for r in world.iter_records("helpdesk/satisfaction_ratings") if r["score"] in ("good", "bad")]
    answers += [{"type": "nps", "score": s["score"], "at": pd.Timestamp(s["responded_at"]), "id": str(s["id"]),
                 "email": normalized_email(s["email"]), "reference": s["customer_reference"]}
                for s in world.iter_records("nps/responses")]
    return answers


def customer_record_emails(world) -> list[tuple[str, str, str]]:
    """(system, record id, normalised e-mail) of every customer record of the four systems that has one: the
    records an NPS respondent's e-mail is looked up in (an accounting contact: its first address)."""
    rows = [("shop", str(c["id"]), c.get("email")) for c in world.iter_records("shop/customers")]
    rows += [("erp", str(p["id"]), p["email"] or None) for p in world.iter_records("erp/res.partner")]
    rows += [("helpdesk", str(u["id"]), u["email"]) for u in world.iter_records("helpdesk/users")]
    for c in world.iter_records("accounting/contacts"):
        addresses = c.get("emailAddresses") or {}
        first = next((addresses[k][0] for k in ("private", "business", "office", "other") if addresses.get(k)), None)
        rows.append(("accounting", c["id"], first))
    return [(system, rid, normalized_email(email)) for system, rid, email in rows if normalized_email(email)]


def nps_owner(answer: dict, owner_of_record: dict, owners_of_email: dict):
    """Whom an NPS answer belongs to: the owner of its shop customer reference, else the one owner of
    every customer record with its e-mail; None when there is none or several (`owner_of_record` maps
    (system, record id) to a person or a golden customer, `owners_of_email` an e-mail to a set of them)."""
    owner = owner_of_record.get(("shop", answer["reference"])) if answer["reference"] else None
    if owner is not None:
        return owner
    owners = owners_of_email.get(answer["email"], set())
    return next(iter(owners)) if len(owners) == 1 else None


def owners_by_email(world, owner_of_record: dict) -> dict[str, set]:
    owners = defaultdict(set)
    for system, rid, email in customer_record_emails(world):
        if (system, rid) in owner_of_record:
            owners[email].add(owner_of_record[(system, rid)])
    return owners


def order_economics(order: dict, erp_lines: list[dict], unit_cost: dict) -> dict:
    """An order's figures from its ERP lines (a shop order's mirror carries the shop's lines and its shipping
    line), following DOMAIN.md: refund and units from the returned quantities; shipping charged from the
    shipping line (net as the ERP books it), else the shop's shipping price at the order's net/gross ratio;
    order value before returns = net - shipping; cost of goods = kept product units x standard_price."""
    refund, cost_of_goods, delivered, returned = Decimal(0), Decimal(0), 0.0, 0.0
    shipping_net, shipping_gross = None, Decimal(0)
    for line in erp_lines:
        if SHIPPING_SKU in line["product_id"][1]:
            shipping_net = (shipping_net or Decimal(0)) + money(line["price_subtotal"])
            shipping_gross += money(Decimal(str(line["price_unit"])) * Decimal(str(line["product_uom_qty"])))
            continue
        qty, ret = line["product_uom_qty"], line["x_qty_returned"]
        refund += money(Decimal(str(ret)) * Decimal(str(line["price_subtotal"])) / Decimal(str(qty)))
        cost_of_goods += money(Decimal(str(qty - ret)) * unit_cost[line["product_id"][0]])
        delivered += line["qty_delivered"]
        returned += ret
    if order["shipping_gross"] is not None:
        shipping_gross = order["shipping_gross"]
        if shipping_net is None:
            shipping_net = money(shipping_gross * order["net"] / order["gross"])
    shipping_net = shipping_net or Decimal(0)
    value_net, value_gross = order["net"] - shipping_net, order["gross"] - shipping_gross
    discounts_net = money(order["discounts_gross"] * value_net / value_gross) if value_gross else Decimal(0)
    kept = order["net"] - refund
    costs = ((Decimal(0) if order["store"] else SHIPPING_COST) + payment_fee(order["method"], order["gross"])
             + (RETURN_HANDLING if returned > 0 else Decimal(0)))
    return {"refund": refund, "delivered": delivered, "returned": returned, "value_net": value_net,
            "discounts_net": discounts_net, "shipping_net": shipping_net, "cost_of_goods": cost_of_goods,
            "cm1": kept - cost_of_goods, "cm2": kept - cost_of_goods - costs}


def tickets_per_person(world, person_of: dict, as_of: date) -> dict:
    """Helpdesk tickets not deleted, opened (Berlin date) up to the as-of date, per person of the requester."""
    counts = defaultdict(int)
    for t in world.iter_records("helpdesk/tickets"):
        opened = pd.Timestamp(t["created_at"]).tz_convert("Europe/Berlin").date()
        person = person_of.get(("helpdesk", str(t["requester_id"])))
        if t["status"] != "deleted" and opened <= as_of and person is not None:
            counts[person] += 1
    return counts


@pytest.fixture(scope="module")
def truth(built):
    """Independent per-person figures from the world's records."""
    world, crosswalk, kpis, _, _ = built
    identity = world.truth()
    person_of = {(s, r): p for s, r, p in identity[["source_system", "source_record_id", "person_id"]].itertuples(index=False)}
    as_of = pd.Timestamp(kpis["as_of_date"].iloc[0]).date()

    # orders: a webshop order and its ERP mirror are one order (the generator's mirror table)
    sale_orders = {r["id"]: r for r in world.iter_records("erp/sale.order")}
    shop_orders = {r["id"]: r for r in world.iter_records("shop/orders")}
    mirror_table = world.T["erp/sale.order"]
    shop_ids = world.T["shop/orders"]["id"]
    mirror_of_shop = {int(shop_ids[srow]): int(eid) for eid, srow in zip(mirror_table["id"], mirror_table["shop_row"]) if srow >= 0}
    mirrored_erp = set(mirror_of_shop.values())

    lines_by_order = defaultdict(list)
    for line in world.iter_records("erp/sale.order.line"):
        lines_by_order[line["order_id"][0]].append(line)
    unit_cost = {p["id"]: Decimal(str(p["standard_price"])) for p in world.iter_records("erp/product.product")}

    orders = []  # one dict per real order
    for sid, o in shop_orders.items():
        eid = mirror_of_shop.get(sid)
        person = person_of.get(("shop", str(o["customer"]["id"]))) if o["customer"] else None
        if person is None and eid is not None:
            person = person_of.get(("erp", str(sale_orders[eid]["partner_id"][0])))
        orders.append({
            "person": person, "erp_id": eid, "number": o["order_number"], "erp_name": sale_orders[eid]["name"] if eid else None,
            "day": date.fromisoformat(o["created_at"][:10]),
            "counted": not o["test"] and o["cancelled_at"] is None and o["financial_status"] != "voided",
            "net": money(o["total_price"]) - money(o["total_tax"]), "gross": money(o["total_price"]),
            "method": o["payment_gateway_names"][0], "store": False, "shop_test": o["test"],
            "discounts_gross": money(o["total_discounts"]), "shipping_gross": money(o["shipping_price"] or 0),
        })
    for eid, e in sale_orders.items():
        if eid in mirrored_erp:
            continue
        orders.append({
            "person": person_of.get(("erp", str(e["partner_id"][0]))), "erp_id": eid, "number": None, "erp_name": e["name"],
            "day": date.fromisoformat(e["date_order"][:10]),  # naive UTC; the KPI uses the Berlin date
            "counted": e["state"] in ("sale", "done"), "net": money(e["amount_untaxed"]), "gross": money(e["amount_total"]),
            "method": None, "store": e["team_id"][1] == "Filiale", "discounts_gross": Decimal(0), "shipping_gross": None,
            "shop_test": None,
        })
    for o in orders:
        o.update(order_economics(o, lines_by_order.get(o["erp_id"], []), unit_cost))
    orders = pd.DataFrame(orders)

    # invoices: the contact's person, or (collective contact) the person of the order in the remark; the
    # order's payment method when it is a counted order
    order_of_number = {n: o for n, o in zip(orders["number"], orders.itertuples()) if n is not None and not pd.isna(n)}
    order_of_erp_name = {n: o for n, o in zip(orders["erp_name"], orders.itertuples()) if n is not None}
    paid_on = defaultdict(list)
    for p in world.iter_records("accounting/payments"):  # the payment state of a paid voucher (id = voucher id)
        paid_on[p["id"]].extend(item["postingDate"][:10] for item in p["paymentItems"])
    invoices = []
    for v in world.iter_records("accounting/vouchers"):
        if v["voucherType"] not in INVOICE_TYPES or v["voucherStatus"] not in ("paid", "paidoff") or not paid_on[v["id"]]:
            continue
        if m := re.search(r"\bS\d{5}\b", v["remark"]):
            order = order_of_erp_name.get(m.group(0))
        else:
            order = order_of_number.get(int(re.search(r"(\d+)\s*$", v["remark"]).group(1)))
        if v["contactId"]:
            person = person_of.get(("accounting", v["contactId"]))
        else:
            person = order.person if order is not None else None
        days = (date.fromisoformat(max(paid_on[v["id"]])) - date.fromisoformat(v["voucherDate"][:10])).days
        method = order.method if order is not None and order.counted else None
        invoices.append({"person": person, "days_to_pay": days, "method": method})
    invoices = pd.DataFrame(invoices)

    # surveys: the last CSAT rating (good/bad) and NPS score per person
    users = {str(u["id"]) for u in world.iter_records("helpdesk/users")}
    person_of_email = owners_by_email(world, person_of)
    surveys = pd.DataFrame([{"person": person_of.get(("helpdesk", str(s["user"]))) if s["type"] == "csat"
                             else nps_owner(s, person_of, person_of_email),
                             "type": s["type"], "score": s["score"], "at": s["at"], "id": s["id"]}
                            for s in survey_answers(world) if s["type"] == "nps" or str(s["user"]) in users])

    # people resolved exactly: their golden cluster holds exactly their records
    merged = identity.merge(crosswalk, on=["source_system", "source_record_id"])
    by_person = merged.groupby("person_id")["golden_customer_id"].agg(set)
    cluster_people = merged.groupby("golden_customer_id")["person_id"].agg(set)
    exact = {p: next(iter(g)) for p, g in by_person.items() if len(g) == 1 and cluster_people[next(iter(g))] == {p}}
    checkouts = defaultdict(int)  # every checkout the shop lists is abandoned (never completed)
    for c in world.iter_records("shop/checkouts"):
        person = person_of.get(("shop", str(c["customer"]["id"]))) if c["customer"] else None
        opened = pd.Timestamp(c["created_at"]).tz_convert("Europe/Berlin").date()
        if person is not None and c["completed_at"] is None and opened <= as_of:
            checkouts[person] += 1
    return {"orders": orders, "invoices": invoices, "surveys": surveys, "exact": exact, "as_of": as_of,
            "tickets": tickets_per_person(world, person_of, as_of), "checkouts": checkouts}


def test_most_people_are_resolved_exactly(truth):
    assert len(truth["exact"]) > 1000


def test_orders_revenue_aov_and_returns(built, truth):
    _, _, kpis, _, _ = built
    orders = truth["orders"]
    counted = orders[orders["counted"] & orders["person"].notna()]
    checked = 0
    for person, gid in truth["exact"].items():
        mine = counted[counted["person"] == person]
        row = kpis.loc[gid]
        assert row["orders_count"] == len(mine), gid
        net_revenue = sum(mine["net"], Decimal(0)) - sum(mine["refund"], Decimal(0))
        assert Decimal(str(row["net_revenue"])) == net_revenue, gid
        if len(mine):
            checked += 1
            # AOV before returns (goods after discounts, no shipping); net value kept per order beside it
            order_value = sum(mine["value_net"], Decimal(0))
            assert Decimal(str(row["order_value_net"])) == order_value, gid
            assert Decimal(str(row["aov"])) == (order_value / len(mine)).quantize(CENT, rounding=ROUND_HALF_UP), gid
            assert Decimal(str(row["net_value_per_order"])) == (net_revenue / len(mine)).quantize(CENT, rounding=ROUND_HALF_UP), gid
            delivered, returned = mine["delivered"].sum(), mine["returned"].sum()
            if delivered:
                assert row["return_rate"] == pytest.approx(returned / delivered), gid
            shares = mine["method"].fillna("").eq("invoice").mean()
            assert row["invoice_share"] == pytest.approx(shares), gid
    assert checked > 700


def test_order_economics_and_margin_clv(built, truth):
    """Discounts, shipping, cost of goods (products only), contribution margins I and II and margin CLV
    (CM II - service cost) per exactly resolved person; a contact without orders has no margin CLV."""
    _, _, kpis, _, _ = built
    orders = truth["orders"]
    counted = orders[orders["counted"] & orders["person"].notna()]
    by_person = {person: group for person, group in counted.groupby("person")}
    buyers = contacts = 0
    for person, gid in truth["exact"].items():
        row = kpis.loc[gid]
        mine = by_person.get(person)
        if mine is None:
            contacts += 1
            assert not row["has_orders"] and pd.isna(row["margin_clv"]) and pd.isna(row["is_profitable"]), gid
            assert Decimal(str(row["contribution_margin_2"])) == 0, gid
            continue
        buyers += 1
        assert row["has_orders"], gid
        for column, field in (("discounts_net", "discounts_net"), ("shipping_charged_net", "shipping_net"),
                              ("cost_of_goods", "cost_of_goods"), ("contribution_margin_1", "cm1"),
                              ("contribution_margin_2", "cm2")):
            assert Decimal(str(row[column])) == sum(mine[field], Decimal(0)), (gid, column)
        margin = sum(mine["cm2"], Decimal(0)) - COST_PER_TICKET * truth["tickets"].get(person, 0)
        assert Decimal(str(row["margin_clv"])) == margin, gid
        assert bool(row["is_profitable"]) == (margin > 0), gid
    assert buyers > 700 and contacts > 50
    # the world charges shipping and grants discounts on some orders: both definitions are exercised
    assert counted["shipping_net"].gt(0).any() and counted["discounts_net"].gt(0).any()


def test_the_margin_clv_prediction_reads_each_customers_order_margins(built, truth, pipeline_warehouse):
    """The margin model's input per exactly resolved buyer is their contribution margin II per order, as
    computed here: repeat purchases and the mean margin of the orders after the first. Only buyers whose
    orders lie at least two days apart are checked, so that the Berlin order date and the UTC date of the
    world agree on which orders are one purchase day."""
    path, _ = pipeline_warehouse
    with duckdb.connect(str(path), read_only=True) as con:
        predicted = con.execute("select golden_customer_id, frequency, monetary_margin, predicted_margin_clv "
                                "from marts.customer_clv_predictions").df().set_index("golden_customer_id")
    _, _, kpis, _, _ = built
    orders = truth["orders"]
    by_person = {person: group.sort_values("day") for person, group in
                 orders[orders["counted"] & orders["person"].notna()].groupby("person")}
    checked = repeat_buyers = 0
    for person, gid in truth["exact"].items():
        mine = by_person.get(person)
        if mine is None:
            assert gid not in predicted.index and pd.isna(kpis.loc[gid, "predicted_margin_clv"]), gid
            continue
        days = list(mine["day"])
        if any((later - earlier).days < 2 for earlier, later in zip(days, days[1:])):
            continue
        row = predicted.loc[gid]
        repeat = [float(margin) for margin in mine["cm2"].iloc[1:]]
        assert row["frequency"] == len(repeat), gid
        assert row["monetary_margin"] == pytest.approx(np.mean(repeat) if repeat else 0.0, abs=1e-9), gid
        assert kpis.loc[gid, "predicted_margin_clv"] == pytest.approx(row["predicted_margin_clv"], rel=1e-12), gid
        checked += 1
        repeat_buyers += bool(repeat)
    assert checked > 500 and repeat_buyers > 100
    # customers who lose money on their repeat orders exist here, and keep a negative prediction
    assert (predicted["monetary_margin"] < 0).sum() > 0
    assert (predicted.loc[predicted["monetary_margin"] < 0, "predicted_margin_clv"] < 0).all()


def test_days_to_pay(built, truth):
    _, _, kpis, _, _ = built
    invoices = truth["invoices"]
    medians = invoices.dropna(subset=["person"]).groupby("person")["days_to_pay"].median()
    checked = 0
    for person, gid in truth["exact"].items():
        expected = medians.get(person)
        actual = kpis.loc[gid, "median_days_to_pay"]
        if expected is None:
            assert pd.isna(actual), gid
        else:
            checked += 1
            assert actual == pytest.approx(expected), gid
    assert checked > 300


def test_days_to_pay_per_payment_method_and_cart_abandonment(built, truth):
    """Median days to pay per method where the customer pays later (the invoiced order's method), and
    abandoned checkouts / (abandoned checkouts + real shop orders) per customer."""
    _, _, kpis, _, _ = built
    invoices = truth["invoices"].dropna(subset=["person", "method"])
    medians = invoices.groupby(["person", "method"])["days_to_pay"].median()
    orders = truth["orders"]
    shop_orders = orders[orders["shop_test"].eq(False) & orders["person"].notna()].groupby("person").size()
    checked = {"invoice": 0, "sepa_debit": 0, "klarna_pay_later": 0}
    abandoning = 0
    for person, gid in truth["exact"].items():
        row = kpis.loc[gid]
        for method in checked:
            expected, actual = medians.get((person, method)), row[f"median_days_to_pay_{method}"]
            if expected is None:
                assert pd.isna(actual), (gid, method)
            else:
                checked[method] += 1
                assert actual == pytest.approx(expected), (gid, method)
        abandoned, placed = truth["checkouts"].get(person, 0), int(shop_orders.get(person, 0))
        assert (row["abandoned_checkouts"], row["shop_orders"]) == (abandoned, placed), gid
        if abandoned + placed:
            assert row["cart_abandonment_rate"] == pytest.approx(abandoned / (abandoned + placed)), gid
        else:
            assert pd.isna(row["cart_abandonment_rate"]), gid
        abandoning += abandoned > 0
    assert min(checked.values()) > 30 and abandoning > 30, (checked, abandoning)


def test_last_csat_and_nps(built, truth):
    _, _, kpis, _, _ = built
    surveys = truth["surveys"].dropna(subset=["person"]).sort_values(["at", "id"])
    last = surveys.groupby(["person", "type"])["score"].last()
    checked = 0
    for person, gid in truth["exact"].items():
        for kind in ("csat", "nps"):
            expected = last.get((person, kind))
            actual = kpis.loc[gid, "last_csat_rating" if kind == "csat" else "last_nps_score"]
            if expected is None:
                assert pd.isna(actual), (gid, kind)
            else:
                checked += 1
                assert actual == expected, (gid, kind)
    assert checked > 100


@pytest.fixture(scope="module")
def monthly_survey_answers(built) -> tuple[pd.Series, pd.Series]:
    """(the latest NPS score per customer and Berlin month, every CSAT rating with its month), indexed by month."""
    world, crosswalk, _, _, _ = built
    golden = {(s, r): g for s, r, g in crosswalk.itertuples(index=False)}
    golden_of_email = owners_by_email(world, golden)

    def customer(answer: dict) -> str:
        """The key the latest answer per customer is taken by: the golden customer, else (unresolved) the e-mail."""
        if answer["type"] == "csat":
            return golden.get(("helpdesk", str(answer["user"])), f"user:{answer['user']}")
        owner = nps_owner(answer, golden, golden_of_email)
        return owner or (f"email:{answer['email']}" if answer["email"] else f"response:{answer['id']}")

    rows = pd.DataFrame([{"customer": customer(s), **s} for s in survey_answers(world)])
    rows["month"] = rows["at"].dt.tz_convert("Europe/Berlin").dt.strftime("%Y-%m")
    nps = rows[rows["type"] == "nps"].sort_values(["at", "id"]).groupby(["month", "customer"])["score"].last()
    csat = rows[rows["type"] == "csat"].set_index("month")["score"]
    return nps.droplevel("customer"), csat


def by_month(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(month=pd.to_datetime(table["period_start"]).dt.strftime("%Y-%m")).set_index("month")


def by_day(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(day=pd.to_datetime(table["period_start"]).dt.strftime("%Y-%m-%d")).set_index("day")


def test_monthly_nps_and_csat(built, monthly_survey_answers):
    """Company NPS (latest response per customer per month) and CSAT per Berlin calendar month."""
    _, _, _, monthly, _ = built
    nps, csat = monthly_survey_answers
    nps = nps.groupby("month").agg(n="size", value=lambda s: ((s >= 9).mean() - (s <= 6).mean()) * 100)
    csat = csat.groupby("month").agg(n="size", value=lambda s: (s == "good").mean() * 100)
    monthly = by_month(monthly)
    for month, expected in nps.iterrows():
        assert monthly.loc[month, "nps_n"] == expected["n"], month
        assert monthly.loc[month, "nps"] == pytest.approx(expected["value"], abs=1e-3), month
        assert bool(monthly.loc[month, "is_small_sample"]) == (expected["n"] < 30)
    for month, expected in csat.iterrows():
        assert monthly.loc[month, "csat_n"] == expected["n"], month
        assert monthly.loc[month, "csat"] == pytest.approx(expected["value"], abs=1e-3), month


def test_every_fact_is_counted_and_orders_are_not_doubled(built, truth):
    _, _, kpis, _, unresolved = built
    assert set(unresolved["fact_table"]) == {"fct_orders", "fct_order_lines", "fct_refunds", "fct_checkouts",
                                             "fct_invoices", "fct_payments", "fct_tickets", "fct_survey_responses"}
    orders = truth["orders"]
    # every counted real order of a known person appears once in customer_kpis
    assert kpis["orders_count"].sum() == orders[orders["counted"] & orders["person"].notna()].shape[0]


def test_every_nps_answer_of_the_export_is_tied_by_reference_or_email(pipeline_warehouse, built):
    """Each exported NPS answer is one fact row, tied to the golden customer of its shop customer reference,
    else to the one golden customer whose records carry its e-mail, else unresolved with the reason."""
    path, world = pipeline_warehouse
    _, crosswalk, _, _, _ = built
    with duckdb.connect(str(path), read_only=True) as con:
        facts = con.execute("select survey_response_id, golden_customer_id, unresolved_reason, score "
                            "from marts.fct_survey_responses where survey_type = 'nps'").df().set_index("survey_response_id")
    golden = {(s, r): g for s, r, g in crosswalk.itertuples(index=False)}
    golden_of_email = owners_by_email(world, golden)
    answers = [a for a in survey_answers(world) if a["type"] == "nps"]
    assert sorted(facts.index) == sorted(a["id"] for a in answers)
    reasons = defaultdict(int)
    for answer in answers:
        row = facts.loc[answer["id"]]
        expected = nps_owner(answer, golden, golden_of_email)
        assert (None if pd.isna(row["golden_customer_id"]) else row["golden_customer_id"]) == expected, answer
        assert row["score"] == answer["score"]
        if expected is None:
            several = len(golden_of_email.get(answer["email"], ())) > 1
            assert row["unresolved_reason"] == ("email_of_several_customers" if several else "email_not_found"), answer
            reasons[row["unresolved_reason"]] += 1
    by_reference = sum(1 for a in answers if a["reference"])
    assert by_reference and sum(reasons.values()) < 0.1 * len(answers), (by_reference, dict(reasons))


# ----------  company KPIs: sample sizes with 95 % intervals (NPS, CSAT) and retention cohorts

Z95 = 1.96  # the normal quantile DOMAIN.md's 95 % intervals use
MIN_SAMPLE = 30  # dbt var kpi_min_sample, default
RETENTION_WINDOW = pd.DateOffset(months=12)  # dbt var retention_window_months, default: active = an order within it


def wilson_interval_pct(successes: int, n: int) -> tuple[float, float]:
    """The Wilson score interval as the two roots in p of (p_hat - p)^2 = z^2 p (1 - p) / n, in percent."""
    p_hat, k = successes / n, Z95**2 / n
    roots = np.roots([1 + k, -(2 * p_hat + k), p_hat**2]).real
    return float(roots.min() * 100), float(roots.max() * 100)


def nps_interval(scores: pd.Series) -> tuple[float, float]:
    """NPS as the mean of +1 (9-10) / 0 / -1 (0-6) per respondent; the variance of that mean is the population
    variance of the +1/0/-1 values over n (the trinomial variance); normal interval clipped to [-100, 100]."""
    values = np.select([scores >= 9, scores <= 6], [1.0, -1.0], 0.0)
    half = Z95 * np.sqrt(values.var() / len(values))
    return max(-100.0, (values.mean() - half) * 100), min(100.0, (values.mean() + half) * 100)


def test_wilson_interval_matches_a_published_value():
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I: 81/263 -> 0.2553-0.3662
    low, high = wilson_interval_pct(81, 263)
    assert (round(low, 2), round(high, 2)) == (25.53, 36.62)


def test_monthly_nps_and_csat_intervals_and_sample_flags(built, monthly_survey_answers):
    _, _, _, monthly, _ = built
    nps, csat = monthly_survey_answers
    monthly = by_month(monthly)
    checked = 0
    for month, scores in nps.groupby("month"):
        row = monthly.loc[month]
        assert (row["nps_ci_low"], row["nps_ci_high"]) == pytest.approx(nps_interval(scores), abs=1e-3), month
        assert row["nps_ci_low"] <= row["nps"] <= row["nps_ci_high"], month
        assert bool(row["is_small_sample_nps"]) == (len(scores) < MIN_SAMPLE), month
        checked += 1
    for month, ratings in csat.groupby("month"):
        row = monthly.loc[month]
        expected = wilson_interval_pct(int((ratings == "good").sum()), len(ratings))
        assert (row["csat_ci_low"], row["csat_ci_high"]) == pytest.approx(expected, abs=1e-3), month
        assert bool(row["is_small_sample_csat"]) == (len(ratings) < MIN_SAMPLE), month
        checked += 1
    # months without any answer: no interval, flagged
    silent = monthly[~monthly.index.isin(nps.index)]
    assert silent["nps_ci_low"].isna().all() and silent["is_small_sample_nps"].all()
    assert checked > 20 and (~monthly["is_small_sample_csat"]).any()


@pytest.fixture(scope="module")
def counted_orders_by_golden(built) -> tuple[pd.DataFrame, date]:
    """(every counted order up to the KPI date as golden customer and Berlin order date, the KPI date), from the
    world's order records: a webshop order and its ERP mirror are one order, owned by the golden customer of the
    shop customer, else of the ERP partner; an ERP order's naive time is UTC."""
    world, crosswalk, kpis, _, _ = built
    golden = {(s, r): g for s, r, g in crosswalk.itertuples(index=False)}
    as_of = pd.Timestamp(kpis["as_of_date"].iloc[0]).date()
    sale_orders = {r["id"]: r for r in world.iter_records("erp/sale.order")}
    mirror_table = world.T["erp/sale.order"]
    shop_ids = world.T["shop/orders"]["id"]
    mirror_of_shop = {int(shop_ids[srow]): int(eid) for eid, srow in zip(mirror_table["id"], mirror_table["shop_row"]) if srow >= 0}
    rows = []
    for o in world.iter_records("shop/orders"):
        if o["test"] or o["cancelled_at"] is not None or o["financial_status"] == "voided":
            continue
        owner = golden.get(("shop", str(o["customer"]["id"]))) if o["customer"] else None
        if owner is None and o["id"] in mirror_of_shop:
            owner = golden.get(("erp", str(sale_orders[mirror_of_shop[o["id"]]]["partner_id"][0])))
        rows.append((owner, pd.Timestamp(o["created_at"]).tz_convert("Europe/Berlin").date()))
    for eid, e in sale_orders.items():
        if eid not in set(mirror_of_shop.values()) and e["state"] in ("sale", "done"):
            day = pd.Timestamp(e["date_order"]).tz_localize("UTC").tz_convert("Europe/Berlin").date()
            rows.append((golden.get(("erp", str(e["partner_id"][0]))), day))
    orders = pd.DataFrame(rows, columns=["customer", "day"])
    return orders[orders["day"] <= as_of], as_of


def active_at(orders: pd.DataFrame, day: pd.Timestamp) -> set:
    """Customers active at the end of `day`: an order on or before it whose window has not run out by then."""
    mine = orders[orders["day"] <= day]
    return set(mine.loc[mine["day"] + RETENTION_WINDOW > day, "customer"])


def test_monthly_retention_cohorts(built, counted_orders_by_golden):
    """Of the customers active before the month (the cohort), the share who buy in it; each buyer is new,
    retained or reactivated; churn counts the cohort customers no longer active at the month's end; months
    whose window reaches back before the first order are immature, with no rate."""
    _, _, _, monthly, _ = built
    orders, as_of = counted_orders_by_golden
    first = pd.Timestamp(orders["day"].min())
    orders = orders.assign(day=pd.to_datetime(orders["day"])).dropna(subset=["customer"])
    monthly = by_month(monthly)
    mature = 0
    for start in pd.date_range(first.replace(day=1), pd.Timestamp(as_of), freq="MS"):
        end = min(start + pd.offsets.MonthEnd(0), pd.Timestamp(as_of))
        row = monthly.loc[start.strftime("%Y-%m")]
        cohort = active_at(orders, start - pd.Timedelta(days=1))
        in_month = orders[(orders["day"] >= start) & (orders["day"] <= end)]
        before = orders[orders["day"] < start]
        buyers = set(in_month["customer"])
        new = buyers - set(before["customer"])
        retained = buyers & cohort
        reactivated = buyers - new - retained
        month = start.strftime("%Y-%m")
        assert (row["customers_new"], row["customers_retained"], row["customers_reactivated"]) == (
            len(new), len(retained), len(reactivated)), month
        immature = start - RETENTION_WINDOW < first
        assert bool(row["is_retention_immature"]) == immature, month
        if immature:
            assert pd.isna(row["retention_rate_pct"]) and pd.isna(row["churn_rate_pct"]), month
            continue
        mature += 1
        lapsed = cohort - active_at(orders, end)
        assert row["active_customers_start"] == len(cohort), month
        assert row["retention_rate_pct"] == pytest.approx(len(retained) / len(cohort) * 100, abs=1e-3), month
        assert row["churn_rate_pct"] == pytest.approx(len(lapsed) / len(cohort) * 100, abs=1e-3), month
    assert mature >= 6 and monthly["customers_reactivated"].sum() > 0


# ----------  company KPIs: the month by booking date (accounting vouchers)


def test_booked_revenue_equals_the_vouchers_of_each_day_and_month(pipeline_warehouse, built):
    """kpi_daily_booked and kpi_monthly_booked against the accounting system's vouchers as served: per Berlin
    day and month of the voucher date, sales invoices (not voided, not draft) minus credit notes (not
    voided), to the cent."""
    path, world = pipeline_warehouse
    _, _, kpis, _, _ = built
    as_of = pd.Timestamp(kpis["as_of_date"].iloc[0]).date()
    with duckdb.connect(str(path), read_only=True) as con:
        booked = {"%Y-%m": by_month(con.execute("select * from marts.kpi_monthly_booked").df()),
                  "%Y-%m-%d": by_day(con.execute("select * from marts.kpi_daily_booked").df())}
    for period_format, table in booked.items():
        expected = defaultdict(lambda: {"invoiced": Decimal(0), "credited": Decimal(0), "invoices": 0, "credit_notes": 0})
        for v in world.iter_records("accounting/vouchers"):
            day = pd.Timestamp(v["voucherDate"]).tz_convert("Europe/Berlin")
            if v["voucherStatus"] in ("voided", "draft") or day.date() > as_of:
                continue
            period = expected[day.strftime(period_format)]
            if v["voucherType"] in INVOICE_TYPES:
                period["invoiced"] += money(v["totalAmount"])
                period["invoices"] += 1
            elif v["voucherType"] in CREDIT_NOTE_TYPES:
                period["credited"] += money(v["totalAmount"])
                period["credit_notes"] += 1
        assert len(expected) > 12 and sum(p["credit_notes"] for p in expected.values()) > 50
        for period, figures in expected.items():
            row = table.loc[period]
            assert (row["invoices_count"], row["credit_notes_count"]) == (figures["invoices"], figures["credit_notes"]), period
            assert Decimal(str(row["invoiced_gross"])) == figures["invoiced"], period
            assert Decimal(str(row["booked_revenue_gross"])) == figures["invoiced"] - figures["credited"], period
        # periods without a voucher are there with 0, and none is missing up to the KPI date
        assert set(table.index) >= set(expected) and table.loc[~table.index.isin(expected), "invoices_count"].eq(0).all()
