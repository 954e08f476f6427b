"""The demo sources' HTTP server, tested over real HTTP with a bare `requests` client.

Most tests run against a small hand-made world whose timestamps are chosen to hurt: forty records
share each second (so equal timestamps straddle every page boundary), some ERP rows are archived,
some shop orders cancelled, some helpdesk records changed within the last minute.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
import requests

from c360.settings import SourceCredentials
from demo_sources.accounting import SALES_VOUCHER_TYPES, payment_response
from demo_sources.faults import PROFILES, FaultProfile, Throttle
from demo_sources.server import SourceServer
from demo_sources.testing import auth_headers
from demo_sources.store import RESOURCE_KEYS as STORE_KEYS
from demo_sources.store import parse_marker

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
CREDS = SourceCredentials(
    shop_token="t-shop",
    erp_api_key="t-erp",
    helpdesk_email="agent@example.com",
    helpdesk_token="t-helpdesk",
    accounting_api_key="t-accounting",
)
SAME_SECOND = 40  # records per timestamp


def shop_ts(moment: datetime) -> str:
    return moment.astimezone(BERLIN).isoformat(timespec="seconds")


def erp_ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def helpdesk_ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def accounting_ts(moment: datetime) -> str:
    return moment.astimezone(BERLIN).isoformat(timespec="milliseconds")


MARKER = {
    "shop": ("updated_at", shop_ts),
    "erp": ("write_date", erp_ts),
    "helpdesk": ("updated_at", helpdesk_ts),
    "accounting": ("updatedDate", accounting_ts),
}


RATING_SCORES = ("offered", "good", "bad", "unoffered")
RATINGS_KEY = "helpdesk/satisfaction_ratings"
# CSAT survey responses come only from a replay (the generated account runs the legacy CSAT): their own
# test below serves them from one.
RESOURCE_KEYS = tuple(key for key in STORE_KEYS if key != "helpdesk/csat_survey_responses")


class FakeWorld:
    """The world interface the server consumes, with a few hundred records per resource."""

    def __init__(self, n: int = 230, seed: int = 3):
        self.now = NOW
        self._rng = random.Random(seed)
        self._next_id = 1000
        self.records: dict[str, dict] = {key: {} for key in RESOURCE_KEYS}
        self.resource_keys = tuple(self.records)
        start = NOW - timedelta(days=40)
        for key in RESOURCE_KEYS:
            ids = self._new_ids(key, n)
            for i, record_id in enumerate(ids):
                # 40 records per second-stamp for the first 120, then 5; stamps 9 h apart (many Berlin days).
                group = i // SAME_SECOND if i < 3 * SAME_SECOND else 3 + (i - 3 * SAME_SECOND) // 5
                moment = start + timedelta(hours=9 * group)
                self.records[key][record_id] = self._record(key, record_id, i, moment)
            if key.startswith("helpdesk/"):
                for record_id in ids[-5:]:  # changed within the last minute: held back by the exports
                    self.records[key][record_id] = self._record(key, record_id, 0, NOW - timedelta(seconds=10))

    def _new_ids(self, key: str, n: int) -> list:
        if key.startswith("accounting/"):
            return [str(uuid.UUID(int=self._rng.getrandbits(128))) for _ in range(n)]
        ids = [self._next_id + self._rng.randrange(10**6) * 1000 + k for k in range(n)]
        self._next_id += n
        self._rng.shuffle(ids)  # id order differs from time order
        return ids

    def _record(self, key: str, record_id, i: int, moment: datetime, version: int = 1) -> dict:
        system, resource = key.split("/")
        record: dict = {"id": record_id, "n": i, "v": version}
        if key == "accounting/contacts":
            record.update(version=version, archived=False, roles={"customer": {"number": 10000 + i}})
            return record
        field, fmt = MARKER[system]
        record[field] = fmt(moment)
        if key == "helpdesk/satisfaction_ratings":
            record.update(created_at=fmt(moment - timedelta(hours=i % 3)), score=RATING_SCORES[i % 4],
                          comment="Danke!" if i % 3 == 0 else None, ticket_id=i + 1, requester_id=7000 + i)
        if key == "shop/orders":
            record["cancelled_at"] = fmt(moment) if i % 5 == 0 else None
        if key in ("erp/res.partner", "erp/product.product"):
            record["active"] = i % 7 != 0
            record["name"] = f"Name {i}"
            record["email"] = f"p{i}@example.com" if i % 3 else False
        if key == "accounting/vouchers":
            record["voucherType"] = "salesinvoice" if i % 4 else "salescreditnote"
            record["voucherStatus"] = ("open", "paid", "paidoff", "voided", "overdue")[i % 5]
        return record

    def count(self, key: str) -> int:
        return len(self.records[key])

    def iter_records(self, key: str):
        yield from self.records[key].values()

    def iter_record_batches(self, key: str, batch_size: int = 50_000):
        records = list(self.records[key].values())
        for k in range(0, len(records), batch_size):
            yield records[k:k + batch_size]

    def advance_day(self) -> dict[str, list[dict]]:
        self.now += timedelta(days=1)
        changes: dict[str, list[dict]] = {}
        for key in RESOURCE_KEYS:
            current = self.records[key]
            changed = []
            for record_id in self._rng.sample(sorted(current), 20):
                old = current[record_id]
                new = self._record(key, record_id, old["n"], self.now - timedelta(hours=2), old["v"] + 1)
                if "created_at" in old:  # a changed rating keeps its creation time
                    new["created_at"] = old["created_at"]
                current[record_id] = new
                changed.append(new)
            for k, record_id in enumerate(self._new_ids(key, 5)):
                new = self._record(key, record_id, 1000 + k, self.now - timedelta(hours=3))
                current[record_id] = new
                changed.append(new)
            changes[key] = changed
        return changes


# ----------------------------------------------------------------------------------------------
# bare clients, one per protocol
# ----------------------------------------------------------------------------------------------
class Fetcher:
    """A bare `requests` loop per system; with `retry` it retries what a connector retries."""

    def __init__(self, server: SourceServer, retry: bool = False, timeout: float = 10.0, creds=CREDS):
        self.server = server
        self.retry = retry
        self.timeout = timeout
        self.session = requests.Session()
        self.creds = creds
        self.seen: Counter = Counter()

    def headers(self, system: str) -> dict:
        return auth_headers(system, self.creds)

    def call(self, method: str, system: str, path: str, **kwargs):
        """(response, decoded JSON); retries 429, 5xx, timeouts, broken connections, bad bodies."""
        url = path if path.startswith("http") else self.server.url(system) + path
        for _ in range(200):
            try:
                response = self.session.request(method, url, headers=self.headers(system), timeout=self.timeout,
                                                **kwargs)
            except requests.exceptions.Timeout:
                self.seen["timeout"] += 1
            except requests.exceptions.ChunkedEncodingError:
                self.seen["incomplete"] += 1
            except requests.exceptions.ConnectionError:
                self.seen["connection"] += 1
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    self.seen[response.status_code] += 1
                    if response.status_code == 429:
                        self.seen[f"429:{system}"] += 1
                        self.check_429(system, response)
                        time.sleep(min(float(response.headers.get("Retry-After", 0.05)), 1.0))
                else:
                    try:
                        return response, response.json()
                    except ValueError:
                        self.seen["bad_json"] += 1
            if not self.retry:
                raise AssertionError(f"request failed without retries: {dict(self.seen)}")
        raise AssertionError("still failing after 200 attempts")

    def check_429(self, system: str, response) -> None:
        if system == "shop":
            float(response.headers["Retry-After"])
            assert "Exceeded" in response.json()["errors"]
        elif system == "erp":
            assert response.headers["Content-Type"].startswith("text/plain")
            assert "Retry-After" not in response.headers
        elif system == "helpdesk":
            assert response.headers["Retry-After"].isdigit()
        else:
            assert "Retry-After" not in response.headers
            assert response.json()["status"] == 429

    # --- full syncs ---------------------------------------------------------------------------
    def shop(self, resource: str, limit: int = 25, **params) -> list[dict]:
        params = {"limit": limit, **params}
        if resource == "orders":
            params.setdefault("status", "any")
        url = f"/admin/api/2024-10/{resource}.json"
        out = []
        while True:
            response, body = self.call("GET", "shop", url, params=params)
            out.extend(body[resource])
            nxt = response.links.get("next")
            if not nxt:
                return out
            url, params = nxt["url"], None

    def erp(self, model: str, limit: int = 37, since: str = "1970-01-01 00:00:00", **extra) -> list[dict]:
        start = [["write_date", ">=", since]]
        domain = start
        out = []
        while True:
            payload = {"domain": domain, "offset": 0, "limit": limit, "order": "write_date asc, id asc",
                       "context": {"active_test": False}, **extra}
            _, page = self.call("POST", "erp", f"/json/2/{model}/search_read", json=payload)
            out.extend(page)
            if len(page) < limit:
                return out
            w, i = page[-1]["write_date"], page[-1]["id"]
            domain = ["&", *start, "|", ["write_date", ">", w], "&", ["write_date", "=", w], ["id", ">", i]]

    def helpdesk(self, resource: str, start_time: int = 0, cursor: str | None = None, per_page: int | None = 40):
        params = {"cursor": cursor} if cursor else {"start_time": start_time}
        if per_page:
            params["per_page"] = per_page
        url = f"/api/v2/incremental/{resource}/cursor.json"
        out = []
        while True:
            _, body = self.call("GET", "helpdesk", url, params=params)
            out.extend(body[resource])
            if body["end_of_stream"]:
                return out, body["after_cursor"]
            url, params = body["after_url"], None

    def ratings(self, size: int | None = 7, **params) -> list[dict]:
        """List Satisfaction Ratings, following the cursor (offset pages when `size` is None)."""
        params = {**params, "page[size]": size} if size else {**params}
        out = []
        url = "/api/v2/satisfaction_ratings.json"
        while True:
            _, body = self.call("GET", "helpdesk", url, params=params)
            out.extend(body["satisfaction_ratings"])
            more = body["meta"]["has_more"] if size else body["next_page"] is not None
            if not more:
                return out
            url, params = (body["links"]["next"] if size else body["next_page"]), None

    def accounting(self, endpoint: str, size: int = 30, **params) -> list[dict]:
        out, page = [], 0
        while True:
            _, body = self.call("GET", "accounting", f"/v1/{endpoint}", params={"page": page, "size": size, **params})
            out.extend(body["content"])
            if body["last"]:
                return out
            page += 1

    def full(self, key: str) -> list[dict]:
        system, resource = key.split("/")
        if system == "shop":
            return self.shop(resource)
        if system == "erp":
            return self.erp(resource)
        if key == RATINGS_KEY:
            return self.ratings()
        if system == "helpdesk":
            return self.helpdesk(resource)[0]
        if resource == "contacts":
            return self.accounting("contacts")
        vouchers = self.accounting("voucherlist", voucherType=",".join(SALES_VOUCHER_TYPES), voucherStatus="any")
        if resource == "vouchers":
            return vouchers
        # payments: no list, the payment state of each voucher (as the connector lands it)
        out = []
        for v in vouchers:
            _, body = self.call("GET", "accounting", f"/v1/payments/{v['id']}")
            out.append({**body, "id": v["id"], "updatedDate": v["updatedDate"]})
        return out


def expected(world, key: str) -> list[dict]:
    """What a full sync must receive: everything except helpdesk records of the last minute (held back by
    the incremental exports, not by the ratings list)."""
    if key == "accounting/payments":
        paid = {p["id"]: p for p in world.iter_records(key)}
        return [{**payment_response(v, paid.get(v["id"])), "id": v["id"], "updatedDate": v["updatedDate"]}
                for v in world.iter_records("accounting/vouchers")]
    records = list(world.iter_records(key))
    if key.startswith("helpdesk/") and key != RATINGS_KEY:
        horizon = world.now - timedelta(seconds=60)
        records = [r for r in records if datetime.fromisoformat(r["updated_at"]) <= horizon]
    return records


def by_id(records: list[dict]) -> dict:
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "a record was served twice"
    return {r["id"]: r for r in records}


@pytest.fixture
def world():
    return FakeWorld()


@pytest.fixture
def server(world):
    srv = SourceServer(world, port=0, credentials=CREDS).start()
    yield srv
    srv.shutdown()


@pytest.fixture
def client(server):
    return Fetcher(server)


# ----------------------------------------------------------------------------------------------
# auth and unknown paths
# ----------------------------------------------------------------------------------------------
def test_auth_failures_use_each_systems_error_format(server):
    bad = Fetcher(server, creds=SourceCredentials("x", "x", "agent@example.com", "x", "x"))
    r = requests.get(server.url("shop") + "/admin/api/2024-10/customers.json", headers=bad.headers("shop"))
    assert r.status_code == 401 and isinstance(r.json()["errors"], str)
    r = requests.get(server.url("shop") + "/admin/api/2024-10/customers.json")
    assert r.status_code == 401
    r = requests.post(server.url("erp") + "/json/2/res.partner/search_read", json={}, headers=bad.headers("erp"))
    assert r.status_code == 401 and set(r.json()) == {"name", "message", "arguments", "context", "debug"}
    r = requests.get(server.url("helpdesk") + "/api/v2/incremental/users/cursor.json?start_time=0",
                     headers=bad.headers("helpdesk"))
    assert r.status_code == 401 and set(r.json()) == {"error", "description", "details"}
    r = requests.get(server.url("accounting") + "/v1/contacts", headers=bad.headers("accounting"))
    body = r.json()
    assert r.status_code == 401 and {"timestamp", "status", "error", "path", "traceId", "message", "details"} <= set(body)
    assert body["status"] == 401
    # credentials never echo back
    for secret in ("t-shop", "t-erp", "t-helpdesk", "t-accounting"):
        assert secret not in r.text


def test_unknown_paths_answer_404_in_the_systems_format(server, client):
    r, _ = None, None
    r = client.session.get(server.url("shop") + "/admin/api/2024-10/nope.json", headers=client.headers("shop"))
    assert r.status_code == 404 and "errors" in r.json()
    r = client.session.post(server.url("erp") + "/json/2/res.partner/unlink", json={}, headers=client.headers("erp"))
    assert r.status_code == 404 and "name" in r.json()
    r = client.session.get(server.url("helpdesk") + "/api/v2/tickets.json", headers=client.headers("helpdesk"))
    assert r.status_code == 404 and r.json()["error"] == "InvalidEndpoint"
    r = client.session.get(server.url("accounting") + "/v1/invoices", headers=client.headers("accounting"))
    assert r.status_code == 404 and r.json()["status"] == 404
    r = client.session.get(server.base_url + "/crm/x")
    assert r.status_code == 404


def test_keep_alive_reuses_one_connection(server, client):
    for _ in range(5):
        client.call("GET", "accounting", "/v1/contacts", params={"size": 5})
    pool = client.session.get_adapter("http://").poolmanager
    assert sum(p.num_connections for p in pool.pools._container.values()) == 1


# ----------------------------------------------------------------------------------------------
# full syncs of every resource
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", RESOURCE_KEYS)
def test_full_sync_gets_every_record_exactly_once(world, server, client, key):
    got = client.full(key)
    assert by_id(got) == by_id(expected(world, key))
    assert server.served(key) == got
    if key != "accounting/contacts":
        field = "created_at" if key == RATINGS_KEY else MARKER[key.split("/")[0]][0]  # ratings: oldest first
        keys = [(parse_marker(r[field]), r["id"]) for r in got]
        assert keys == sorted(keys)


# ----------------------------------------------------------------------------------------------
# shop
# ----------------------------------------------------------------------------------------------
def test_shop_updated_at_min_is_inclusive_and_same_second_records_straddle_pages(world, client):
    records = sorted(world.records["shop/customers"].values(), key=lambda r: (r["updated_at"], r["id"]))
    pivot = records[100]["updated_at"]
    got = client.shop("customers", limit=7, updated_at_min=pivot)
    want = [r for r in records if parse_marker(r["updated_at"]) >= parse_marker(pivot)]
    assert [r["id"] for r in got] == [r["id"] for r in want]
    assert sum(r["updated_at"] == pivot for r in got) == SAME_SECOND
    # the same instant written in UTC selects the same records
    utc = datetime.fromisoformat(pivot).astimezone(UTC).isoformat()
    assert [r["id"] for r in client.shop("customers", limit=250, updated_at_min=utc)] == [r["id"] for r in want]


def test_shop_page_info_with_another_filter_is_400(server, client):
    response, _ = client.call("GET", "shop", "/admin/api/2024-10/customers.json", params={"limit": 10})
    nxt = response.links["next"]["url"]
    assert "page_info=" in nxt and "limit=10" in nxt
    r = client.session.get(nxt + "&updated_at_min=2026-01-01T00:00:00+01:00", headers=client.headers("shop"))
    assert r.status_code == 400 and "page_info" in r.json()["errors"]
    r = client.session.get(server.url("shop") + "/admin/api/2024-10/customers.json?page_info=garbage",
                           headers=client.headers("shop"))
    assert r.status_code == 400 and "page_info" in r.json()["errors"]
    r = client.session.get(server.url("shop") + "/admin/api/2024-10/customers.json?limit=251",
                           headers=client.headers("shop"))
    assert r.status_code == 400 and "limit" in r.json()["errors"]
    assert r.headers["X-Shopify-Shop-Api-Call-Limit"].endswith("/40")


def test_shop_orders_are_open_only_unless_status_any(world, client):
    everything = world.records["shop/orders"].values()
    open_ids = {r["id"] for r in everything if r["cancelled_at"] is None}
    got_open = client.shop("orders", limit=13, status="open")
    assert {r["id"] for r in got_open} == open_ids
    response, body = client.call("GET", "shop", "/admin/api/2024-10/orders.json", params={"limit": 250})
    assert {r["id"] for r in body["orders"]} == open_ids  # default: open
    assert {r["id"] for r in client.shop("orders", status="any")} == {r["id"] for r in everything}
    cancelled = client.shop("orders", limit=9, status="cancelled")
    assert {r["id"] for r in cancelled} == {r["id"] for r in everything} - open_ids


# ----------------------------------------------------------------------------------------------
# ERP
# ----------------------------------------------------------------------------------------------
def test_erp_keyset_paging_and_active_test(world, client):
    everything = world.records["erp/res.partner"]
    got = client.erp("res.partner", limit=40)
    assert by_id(got) == everything
    # default active_test hides archived rows
    _, page = client.call("POST", "erp", "/json/2/res.partner/search_read",
                          json={"domain": [], "order": "id asc"})
    assert {r["id"] for r in page} == {i for i, r in everything.items() if r["active"]}
    assert [r["id"] for r in page] == sorted(r["id"] for r in page)
    # a domain on active switches active_test off, as in Odoo
    _, page = client.call("POST", "erp", "/json/2/res.partner/search_read",
                          json={"domain": [["active", "=", False]]})
    assert {r["id"] for r in page} == {i for i, r in everything.items() if not r["active"]}
    # write_date >= is inclusive; equal stamps come complete
    pivot = sorted(r["write_date"] for r in everything.values())[90]
    got = client.erp("res.partner", limit=15, since=pivot)
    assert {r["id"] for r in got} == {i for i, r in everything.items() if r["write_date"] >= pivot}
    # offset/limit paging by id
    ids = []
    for offset in range(0, 400, 50):
        _, page = client.call("POST", "erp", "/json/2/res.partner/search_read",
                              json={"offset": offset, "limit": 50, "order": "id asc",
                                    "context": {"active_test": False}})
        ids.extend(r["id"] for r in page)
    assert ids == sorted(everything)
    _, count = client.call("POST", "erp", "/json/2/res.partner/search_count",
                           json={"domain": [["write_date", ">=", pivot]], "context": {"active_test": False}})
    assert count == len(got)


def test_erp_domains_fields_and_errors(world, client):
    everything = world.records["erp/product.product"]
    ids = sorted(everything)[:10]
    _, page = client.call("POST", "erp", "/json/2/product.product/search_read",
                          json={"domain": ["|", ["id", "in", ids[:5]], "!", ["id", "not in", ids[5:]]],
                                "fields": ["name"], "context": {"active_test": False}})
    assert [r["id"] for r in page] == ids
    assert all(set(r) == {"id", "name"} for r in page)
    _, page = client.call("POST", "erp", "/json/2/product.product/search_read",
                          json={"domain": [["id", "<", ids[3]], ["id", ">=", ids[1]]], "fields": ["write_date", "email"],
                                "context": {"active_test": False}})
    assert [r["id"] for r in page] == ids[1:3]
    assert page[0]["email"] == everything[ids[1]]["email"]

    def error(payload, model="product.product"):
        r = client.session.post(client.server.url("erp") + f"/json/2/{model}/search_read", json=payload,
                                headers=client.headers("erp"))
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["name"] == "odoo.exceptions.ValidationError" and set(body) >= {"message", "arguments", "context", "debug"}
        return body["message"]

    assert "name" in error({"domain": [["name", "=", "x"]]})
    assert "nonsense" in error({"domain": [["nonsense", "=", "x"]]})
    assert "colour" in error({"fields": ["colour"]})
    assert "res.nothing" in error({}, model="res.nothing")
    error({"domain": [["id", "like", 3]]})
    error({"domain": ["&", ["id", "=", 3]]})
    error({"order": "name desc"})
    error({"domain": [["write_date", ">=", "yesterday"]]})


# ----------------------------------------------------------------------------------------------
# helpdesk
# ----------------------------------------------------------------------------------------------
def test_helpdesk_holdback_too_recent_start_and_cursor_resume(world, server, client):
    got, cursor = client.helpdesk("tickets")
    want = expected(world, "helpdesk/tickets")
    assert by_id(got) == by_id(want)
    assert len(want) == len(world.records["helpdesk/tickets"]) - 5  # the last minute is held back
    now = int(world.now.timestamp())
    r = client.session.get(server.url("helpdesk") + f"/api/v2/incremental/tickets/cursor.json?start_time={now - 30}",
                           headers=client.headers("helpdesk"))
    assert r.status_code == 400 and r.json()["error"] == "InvalidValue" and "details" in r.json()
    r = client.session.get(server.url("helpdesk") + f"/api/v2/incremental/tickets/cursor.json?start_time={now - 60}",
                           headers=client.headers("helpdesk"))
    assert r.status_code == 200 and r.json()["end_of_stream"] is True
    # start_time is inclusive
    pivot = sorted(r["updated_at"] for r in want)[120]
    got, _ = client.helpdesk("tickets", start_time=int(datetime.fromisoformat(pivot).timestamp()), per_page=None)
    assert {r["id"] for r in got} == {r["id"] for r in want if r["updated_at"] >= pivot}
    # nothing new: the cursor stays put, end of stream
    again, cursor2 = client.helpdesk("tickets", cursor=cursor)
    assert again == [] and cursor2 == cursor
    # after a day, the cursor resumes with exactly the changes (and the formerly held-back records)
    held_back = {r["id"] for r in world.records["helpdesk/tickets"].values()} - {r["id"] for r in want}
    before = {i: r["v"] for i, r in world.records["helpdesk/tickets"].items()}
    changes = server.advance(1)
    assert changes["helpdesk/tickets"] == 25
    newer, _ = client.helpdesk("tickets", cursor=cursor)
    changed = {i for i, r in world.records["helpdesk/tickets"].items() if before.get(i) != r["v"]}
    assert len(changed) == 25
    assert by_id(newer).keys() == changed | held_back
    assert by_id(client.helpdesk("tickets")[0]) == by_id(expected(world, "helpdesk/tickets"))


# ----------------------------------------------------------------------------------------------
# accounting
# ----------------------------------------------------------------------------------------------
def test_accounting_envelope_and_contacts_in_insertion_order(world, server, client):
    _, body = client.call("GET", "accounting", "/v1/contacts", params={"page": 2, "size": 50})
    total = len(world.records["accounting/contacts"])
    assert body["totalElements"] == total and body["totalPages"] == -(-total // 50)
    assert body["number"] == 2 and body["size"] == 50 and body["numberOfElements"] == 50
    assert body["first"] is False and body["last"] is False
    assert list(body)[0] == "content"
    order = list(world.records["accounting/contacts"])
    assert [c["id"] for c in client.accounting("contacts", size=250)] == order
    # an updated contact keeps its place
    first = dict(world.records["accounting/contacts"][order[0]], version=9)
    requests.post(server.base_url + "/_admin/records/accounting/contacts", json=[first]).raise_for_status()
    got = client.accounting("contacts", size=250)
    assert [c["id"] for c in got] == order and got[0]["version"] == 9


def test_accounting_window_limit_and_date_filters(world, server, client):
    params = {"page": 40, "size": 250, "voucherType": "salesinvoice"}
    r = client.session.get(server.url("accounting") + "/v1/voucherlist", params=params,
                           headers=client.headers("accounting"))
    assert r.status_code == 400 and r.json()["status"] == 400 and "10000" in r.json()["message"]
    params["page"] = 39
    r = client.session.get(server.url("accounting") + "/v1/voucherlist", params=params,
                           headers=client.headers("accounting"))
    assert r.status_code == 200
    # there is no payments list, only the payment state of one voucher
    r = client.session.get(server.url("accounting") + "/v1/payments", headers=client.headers("accounting"))
    assert r.status_code == 404
    r = client.session.get(server.url("accounting") + "/v1/contacts", params={"page": 400, "size": 250},
                           headers=client.headers("accounting"))
    assert r.status_code == 200 and r.json()["content"] == []

    vouchers = list(world.records["accounting/vouchers"].values())
    days = sorted({datetime.fromisoformat(v["updatedDate"]).astimezone(BERLIN).date() for v in vouchers})
    lo, hi = days[3], days[6]
    got = client.accounting("voucherlist", size=7, voucherType="salesinvoice,salescreditnote", voucherStatus="any",
                            updatedDateFrom=lo.isoformat(), updatedDateTo=hi.isoformat())
    in_window = [v for v in vouchers if lo <= datetime.fromisoformat(v["updatedDate"]).astimezone(BERLIN).date() <= hi]
    assert {v["id"] for v in got} == {v["id"] for v in in_window} and in_window
    got = client.accounting("voucherlist", size=7, voucherType="salescreditnote", voucherStatus="open,paid",
                            updatedDateFrom=lo.isoformat())
    want = [v for v in vouchers if datetime.fromisoformat(v["updatedDate"]).astimezone(BERLIN).date() >= lo
            and v["voucherType"] == "salescreditnote" and v["voucherStatus"] in ("open", "paid")]
    assert {v["id"] for v in got} == {v["id"] for v in want} and want
    vouchers = world.records["accounting/vouchers"].values()
    paid = next(v for v in vouchers if v["voucherStatus"] == "paid")
    _, body = client.call("GET", "accounting", f"/v1/payments/{paid['id']}")
    assert body["paymentStatus"] == "balanced" and body["voucherStatus"] == "paid" and "id" not in body
    assert body["voucherType"] == paid["voucherType"] and body["paymentItems"] == [] and "paidDate" in body
    unpaid = next(v for v in vouchers if v["voucherStatus"] == "open" and v["voucherType"] == "salesinvoice")
    _, body = client.call("GET", "accounting", f"/v1/payments/{unpaid['id']}")
    assert body["paymentStatus"] == "openRevenue" and "paidDate" not in body
    r = client.session.get(server.url("accounting") + f"/v1/payments/{uuid.uuid4()}", headers=client.headers("accounting"))
    assert r.status_code == 404 and r.json()["status"] == 404
    r = client.session.get(server.url("accounting") + "/v1/voucherlist", params={"updatedDateFrom": "2026-13-01",
                                                                                 "voucherType": "salesinvoice"},
                           headers=client.headers("accounting"))
    assert r.status_code == 400
    r = client.session.get(server.url("accounting") + "/v1/contacts", params={"size": 251},
                           headers=client.headers("accounting"))
    assert r.status_code == 400


# ----------------------------------------------------------------------------------------------
# admin
# ----------------------------------------------------------------------------------------------
def test_admin_state_advance_records_served(world, server, client):
    state = requests.get(server.base_url + "/_admin/state").json()
    assert state["profile"] == "none" and state["counts"]["shop/customers"] == 230
    assert datetime.fromisoformat(state["now"]) == NOW
    answer = requests.post(server.base_url + "/_admin/advance", params={"days": 2}).json()
    assert datetime.fromisoformat(answer["now"]) == NOW + timedelta(days=2)
    assert answer["changed"]["erp/sale.order"] == 50
    assert requests.get(server.base_url + "/_admin/state").json()["counts"]["shop/customers"] == 240
    assert by_id(client.full("erp/sale.order")) == by_id(expected(world, "erp/sale.order"))

    # injected records: an update, a record without id, one with an unparsable marker
    some_id = next(iter(world.records["shop/customers"]))
    update = {"id": some_id, "updated_at": shop_ts(world.now - timedelta(minutes=5)), "email": "new@example.com"}
    no_id = {"updated_at": shop_ts(world.now - timedelta(days=400)), "email": "noid@example.com"}
    bad_marker = {"id": 77, "updated_at": "last tuesday", "email": "bad@example.com"}
    r = requests.post(server.base_url + "/_admin/records/shop/customers", json=[update, no_id, bad_marker, "junk"])
    assert r.json()["upserted"] == 4
    got = client.shop("customers", limit=50)
    assert len(got) == 240 + 3
    assert got[0] == no_id  # sorted by its own (old) timestamp, with a fallback id
    assert got[-3:] == [update, bad_marker, "junk"]  # unusable markers sort at the clock's now
    assert sum(r == update for r in got) == 1 and all(r.get("id") != some_id for r in got if r is not update and isinstance(r, dict) and r != update)
    served = requests.get(server.base_url + "/_admin/served/shop/customers")
    assert served.headers["Content-Type"] == "application/x-ndjson"
    lines = [orjson.loads(line) for line in served.content.splitlines()]
    assert lines == got == server.served("shop/customers")
    assert requests.get(server.base_url + "/_admin/served/shop/nothing").status_code == 404
    assert requests.post(server.base_url + "/_admin/records/shop/customers", data=b"{}").status_code == 400


def test_helpdesk_satisfaction_ratings_filters_and_pages(world, client):
    """List Satisfaction Ratings: `start_time`/`end_time` bound the creation time (inclusive), `score`
    filters as documented, cursor and offset pages give the same ratings in the same order."""
    ratings = sorted(world.records[RATINGS_KEY].values(), key=lambda r: (parse_marker(r["created_at"]), r["id"]))
    created = [parse_marker(r["created_at"]) // 1_000_000 for r in ratings]
    lo, hi = created[60], created[150]
    window = client.ratings(start_time=lo, end_time=hi)
    assert [r["id"] for r in window] == [r["id"] for r, t in zip(ratings, created) if lo <= t <= hi]
    assert window[0]["created_at"] == ratings[60]["created_at"] and window[-1]["created_at"] == ratings[150]["created_at"]
    for score, keep in (("received", lambda r: r["score"] in ("good", "bad")), ("offered", lambda r: r["score"] == "offered"),
                        ("good_with_comment", lambda r: r["score"] == "good" and r["comment"]),
                        ("bad_without_comment", lambda r: r["score"] == "bad" and not r["comment"])):
        assert [r["id"] for r in client.ratings(score=score)] == [r["id"] for r in ratings if keep(r)], score
    assert client.ratings(size=None, per_page=40) == client.ratings(size=100) == ratings
    _, page = client.call("GET", "helpdesk", "/api/v2/satisfaction_ratings", params={"per_page": 10, "page": 2})
    assert page["count"] == len(ratings) and page["satisfaction_ratings"] == ratings[10:20]
    assert "page=1" in page["previous_page"] and "page=3" in page["next_page"]
    for bad in ({"score": "great"}, {"page[size]": 101}, {"start_time": "yesterday"}, {"page[after]": "nope"}):
        response = client.session.get(client.server.url("helpdesk") + "/api/v2/satisfaction_ratings", params=bad,
                                      headers=client.headers("helpdesk"))
        assert response.status_code == 400, bad


def test_helpdesk_served_excludes_held_back(world, server):
    lines = requests.get(server.base_url + "/_admin/served/helpdesk/users").content.splitlines()
    assert len(lines) == len(world.records["helpdesk/users"]) - 5


ADMIN_CALLS = (
    ("GET", "/_admin/state"),
    ("POST", "/_admin/advance?days=1"),
    ("POST", "/_admin/records/shop/customers"),
    ("GET", "/_admin/served/shop/customers"),
)


def admin_call(server, method: str, path: str, **headers) -> requests.Response:
    injected = [{"id": 5, "updated_at": shop_ts(NOW), "email": "injected@example.com"}]
    return requests.request(method, server.base_url + path, headers=headers,
                            json=injected if method == "POST" else None, timeout=10)


def assert_world_untouched(world, server) -> None:
    state = requests.get(server.base_url + "/_admin/state", timeout=10).json()
    assert datetime.fromisoformat(state["now"]) == NOW == world.now
    assert state["counts"]["shop/customers"] == 230


def test_admin_refuses_a_foreign_host_header(world, server):
    # A DNS-rebinding page reaches 127.0.0.1 under its own name; a local name needs this server's port.
    for host in (f"rebound.example:{server.port}", "rebound.example", f"127.0.0.1:{server.port + 1}",
                 f"localhost.rebound.example:{server.port}", ""):
        for method, path in ADMIN_CALLS:
            r = admin_call(server, method, path, Host=host)
            assert r.status_code == 403, (host, method, path)
            assert r.headers["Content-Type"] == "application/json"
            assert "addressed to this server" in r.json()["error"] and "C360_SOURCES_ADMIN_HOSTS" in r.json()["error"]
    assert_world_untouched(world, server)


def test_admin_refuses_cross_site_browser_requests(world, server):
    other_local_app = f"http://127.0.0.1:{server.port + 1}"  # e.g. the Dagster UI: another origin
    for headers in ({"Origin": "http://attacker.example"}, {"Origin": "null"}, {"Origin": other_local_app},
                    {"Origin": f"http://attacker.example:{server.port}"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": server.base_url, "Sec-Fetch-Site": "cross-site"}):
        for method, path in ADMIN_CALLS:
            r = admin_call(server, method, path, **headers)
            assert r.status_code == 403, (headers, method, path)
            assert "refuse" in r.json()["error"]
    assert_world_untouched(world, server)


def test_admin_accepts_the_cli_same_origin_pages_and_allowed_hosts(world, monkeypatch, capsys):
    from c360_cli.main import build_parser

    monkeypatch.setenv("C360_SOURCES_ADMIN_HOSTS", "sources.internal, proxy.internal:8443")
    with SourceServer(world, credentials=CREDS, admin_hosts=("c360-sources.lan",)) as srv:
        args = build_parser().parse_args(["sources", "advance", "--url", srv.base_url, "--days", "1"])
        assert args.func(args) == 0  # the CLI: no Origin, Host 127.0.0.1:<port>
        assert orjson.loads(capsys.readouterr().out)["days"] == 1
        port, advances = srv.port, 1
        for headers in ({"Origin": srv.base_url, "Sec-Fetch-Site": "same-origin"},
                        {"Sec-Fetch-Site": "none"},
                        {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"},
                        {"Host": f"[::1]:{port}"},
                        {"Host": f"c360-sources.lan:{port}"},
                        {"Host": f"sources.internal:{port}", "Origin": f"http://sources.internal:{port}"},
                        {"Host": "proxy.internal:8443", "Origin": "https://proxy.internal:8443"}):
            for method, path in ADMIN_CALLS:
                r = admin_call(srv, method, path, **headers)
                assert r.status_code == 200, (headers, method, path, r.text)
            advances += 1
        state = requests.get(srv.base_url + "/_admin/state", timeout=10).json()
        assert datetime.fromisoformat(state["now"]) == NOW + timedelta(days=advances)


# ----------------------------------------------------------------------------------------------
# throttling and faults
# ----------------------------------------------------------------------------------------------
def test_profiles_exist_and_none_is_quiet():
    assert set(PROFILES) == {"none", "flaky", "hostile"}
    assert PROFILES["none"].fault_rate == 0 and not PROFILES["none"].throttle
    assert 0.03 <= PROFILES["flaky"].fault_rate <= 0.07
    assert 0.15 <= PROFILES["hostile"].fault_rate <= 0.25
    for name in ("flaky", "hostile"):
        assert all(PROFILES[name].throttle[s].enabled for s in ("shop", "erp", "helpdesk", "accounting"))
        assert PROFILES[name].p_storm > 0 and PROFILES[name].p_reset > 0 and PROFILES[name].p_slow > 0


def _fault_profile(base: str) -> FaultProfile:
    # The named profile with faults made frequent and slow responses short, so a test sees every kind.
    return PROFILES[base].with_(
        p_500=0.05, p_502=0.05, p_503=0.05, p_slow=0.04, slow_seconds=0.6, p_truncated_length=0.05,
        p_truncated_json=0.05, p_reset=0.05, p_storm=0.03, storm_length=(2, 3),
        throttle={s: Throttle(True, capacity=8, rate=40.0) for s in ("shop", "erp", "helpdesk", "accounting")},
    )


@pytest.mark.parametrize("profile", ["flaky", "hostile"])
def test_faults_happen_and_a_retrying_loop_still_gets_every_record(world, profile):
    srv = SourceServer(world, port=0, credentials=CREDS, faults=_fault_profile(profile), fault_seed=5).start()
    try:
        fetcher = Fetcher(srv, retry=True, timeout=0.3)
        for key in RESOURCE_KEYS:
            got = fetcher.full(key)
            assert by_id(got) == by_id(expected(world, key)), key
        changed = srv.advance(2)
        assert sum(changed.values()) > 0
        for key in RESOURCE_KEYS:
            # Ids and change markers must match the world after it moved; the server serves exactly
            # the versions advance_day() reported (compared in full by the hand-made world tests).
            field = MARKER[key.split("/")[0]][0] if key != "accounting/contacts" else "version"
            got = {i: r.get(field) for i, r in by_id(fetcher.full(key)).items()}
            assert got == {i: r.get(field) for i, r in by_id(expected(world, key)).items()}, key
        seen = fetcher.seen
        for kind in (429, 500, 502, 503, "timeout", "incomplete", "connection", "bad_json"):
            assert seen[kind] > 0, (kind, dict(seen))
        for system in ("shop", "erp", "helpdesk", "accounting"):
            assert seen[f"429:{system}"] > 0, dict(seen)
        counts = srv.fault_counts
        for kind in ("throttled", "storm", "http_500", "http_502", "http_503", "slow", "truncated_length",
                     "truncated_json", "reset"):
            assert counts.get(kind, 0) > 0, counts
    finally:
        srv.shutdown()


def test_named_profiles_serve_complete_data(world):
    srv = SourceServer(world, port=0, credentials=CREDS, faults=PROFILES["hostile"].with_(slow_seconds=0.5),
                       fault_seed=11).start()
    try:
        fetcher = Fetcher(srv, retry=True, timeout=0.3)
        for key in ("shop/orders", "erp/sale.order.line", "helpdesk/users", "accounting/vouchers"):
            assert by_id(fetcher.full(key)) == by_id(expected(world, key))
        assert sum(fetcher.seen.values()) > 0
    finally:
        srv.shutdown()


def test_shop_bucket_reports_level_and_real_wait():
    world = FakeWorld(n=50)
    profile = PROFILES["none"].with_(name="bucket", throttle={"shop": Throttle(True, capacity=5, rate=4.0)})
    with SourceServer(world, credentials=CREDS, faults=profile) as srv:
        fetcher = Fetcher(srv)
        levels, throttled = [], None
        for _ in range(8):
            r = fetcher.session.get(srv.url("shop") + "/admin/api/2024-10/customers.json",
                                    headers=fetcher.headers("shop"))
            if r.status_code == 429:
                throttled = r
                break
            levels.append(r.headers["X-Shopify-Shop-Api-Call-Limit"])
        assert levels[:3] == ["1/5", "2/5", "3/5"]
        assert throttled is not None and 0 < float(throttled.headers["Retry-After"]) <= 0.25


# ----------------------------------------------------------------------------------------------
# a real generated world
# ----------------------------------------------------------------------------------------------
def test_serves_a_generated_world_completely():
    world_module = pytest.importorskip("demo_sources.world")
    if not hasattr(world_module, "generate_world"):
        pytest.skip("demo_sources.world.generate_world is not there yet")
    world = world_module.generate_world(500, 7, today=date(2026, 11, 20))
    with SourceServer(world, credentials=CREDS) as srv:
        fetcher = Fetcher(srv)
        for key in RESOURCE_KEYS:
            got = fetcher.full(key)
            assert by_id(got) == by_id(expected(world, key)), key
        changed = srv.advance(2)
        assert sum(changed.values()) > 0
        for key in RESOURCE_KEYS:
            # Ids and change markers must match the world after it moved; the server serves exactly
            # the versions advance_day() reported (compared in full by the hand-made world tests).
            field = MARKER[key.split("/")[0]][0] if key != "accounting/contacts" else "version"
            got = {i: r.get(field) for i, r in by_id(fetcher.full(key)).items()}
            assert got == {i: r.get(field) for i, r in by_id(expected(world, key)).items()}, key


def test_concurrent_clients_while_the_world_moves(world, server):
    import threading

    errors: list = []
    initial = {key: {r["id"] for r in expected(world, key)} for key in RESOURCE_KEYS}

    def sync(key: str) -> None:
        try:
            for _ in range(3):
                # A record changed during the run may come twice (it moves behind the cursor): the
                # connector's upsert absorbs that; nothing may go missing or fail.
                got = Fetcher(server).full(key)
                assert {r["id"] for r in got} >= initial[key]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=sync, args=(key,)) for key in RESOURCE_KEYS[:8]]
    for thread in threads:
        thread.start()
    server.advance(1)
    for thread in threads:
        thread.join(60)
    assert errors == []


# ----------------------------------------------------------------------------------------------
# NPS: the survey tool's CSV export, not a helpdesk endpoint
# ----------------------------------------------------------------------------------------------
def _export_rows(path) -> list[dict]:
    """The export read as a spreadsheet would: UTF-8 with BOM, semicolons."""
    import csv
    import io

    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_the_nps_answers_are_a_csv_export_written_at_start_and_after_every_day(tmp_path):
    from demo_sources.testing import TEST_TODAY
    from demo_sources.world import generate_world

    world = generate_world(300, 11, today=TEST_TODAY)
    answers = {str(r["id"]): r for r in world.iter_records("nps/responses")}
    assert answers
    srv = SourceServer(world, port=0, credentials=CREDS, nps_export_dir=tmp_path / "nps").start()
    try:
        export = tmp_path / "nps" / "demo-nps-export.csv"
        rows = _export_rows(export)
        assert list(rows[0]) == ["response_id", "responded_at", "email", "customer_reference", "score", "comment",
                                 "survey"]
        assert {r["response_id"]: (r["responded_at"], r["email"], int(r["score"])) for r in rows} == {
            i: (a["responded_at"], a["email"], a["score"]) for i, a in answers.items()}
        assert all(r["email"].strip() for r in rows)  # the survey went to an address
        # Zendesk has no NPS: the helpdesk serves no survey responses
        r = requests.get(srv.url("helpdesk") + "/api/v2/incremental/survey_responses/cursor.json?start_time=0",
                         headers=auth_headers("helpdesk", CREDS))
        assert r.status_code == 404 and r.json()["error"] == "InvalidEndpoint"
        changed = requests.post(srv.base_url + "/_admin/advance", params={"days": 1}).json()["changed"]
        after = _export_rows(export)
        assert changed["nps/responses"] == len(after) - len(rows) == 1  # one answer a day
        assert {r["response_id"] for r in rows} < {r["response_id"] for r in after}
        assert not list((tmp_path / "nps").glob("*.partial"))
    finally:
        srv.shutdown()


def test_helpdesk_csat_survey_responses_from_a_replay_sorted_by_ulid_windowed_and_paged(tmp_path):
    """List Survey Responses of a replayed account on the current CSAT: every response once, sorted by id
    (its ULID, so by creation), `filter[created_at_start|end]` in milliseconds on the creation time the
    ULID carries (inclusive), `filter[responder_ids]`, cursor pages; the connector reads the same list."""
    from connectors.base import ulid_time
    from connectors.helpdesk import HelpdeskClient
    from demo_sources.replay import load_replay

    from demo_sources.helpdesk import ulid

    rng = random.Random(7)
    start_ms = int((NOW - timedelta(days=30)).timestamp() * 1000)
    responses = [{"id": ulid(start_ms + (i // 3) * 3_600_000, rng.getrandbits(80)), "responder_id": str(1000 + i % 7),
                  "subjects": [{"id": str(i), "type": "ticket", "zrn": f"zen:ticket:{i}"}],
                  "subject_zrns": [f"zen:ticket:{i}"], "answers": []} for i in range(250)]
    rng.shuffle(responses)
    (tmp_path / "helpdesk").mkdir()
    (tmp_path / "helpdesk" / "csat_survey_responses.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in responses))
    srv = SourceServer(load_replay(tmp_path), port=0, credentials=CREDS).start()
    try:
        fetcher = Fetcher(srv)

        def listed(**params) -> list[str]:
            ids, params = [], {"page[size]": 100, **params}
            while True:
                _, body = fetcher.call("GET", "helpdesk", "/api/v2/guide/survey_responses", params=params)
                ids += [r["id"] for r in body["survey_responses"]]
                if not body["meta"]["has_more"]:
                    return ids
                params["page[after]"] = body["meta"]["after_cursor"]

        ordered = sorted(r["id"] for r in responses)
        assert listed() == listed(sort="id") == ordered
        lo, hi = ulid_time(ordered[30]), ulid_time(ordered[200])
        in_ms = {"filter[created_at_start]": int(lo.timestamp() * 1000), "filter[created_at_end]": int(hi.timestamp() * 1000)}
        assert listed(**in_ms) == [i for i in ordered if lo <= ulid_time(i) <= hi]
        assert listed(**{"filter[responder_ids]": "1003,1005"}) == sorted(
            r["id"] for r in responses if r["responder_id"] in ("1003", "1005"))
        for bad in ({"sort": "-id"}, {"filter[created_at_start]": "yesterday"}, {"page[size]": 101}, {"page[after]": "x"}):
            response = fetcher.session.get(srv.url("helpdesk") + "/api/v2/guide/survey_responses", params=bad,
                                           headers=fetcher.headers("helpdesk"))
            assert response.status_code == 400, bad
        client = HelpdeskClient(srv.url("helpdesk"), CREDS)
        pages = list(client.fetch("csat_survey_responses", None))
        client.close()
        assert [r["id"] for page in pages for r in page.records] == ordered
        assert pages[-1].watermark == ulid_time(ordered[-1]).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    finally:
        srv.shutdown()
