"""The demo shop's GraphQL Admin API: auth header, connection paging and filter, cost throttle, errors."""

from __future__ import annotations

import time

import requests

from connectors.shop import QUERIES, ShopClient
from demo_sources.faults import PROFILES
from tests.conftest import CREDENTIALS, make_world, serving

PATH = "/admin/api/2026-10/graphql.json"


def post(server, body, token_header="X-Shopify-Access-Token"):
    return requests.post(server.url("shop") + PATH, json=body, headers={token_header: CREDENTIALS.shop_token},
                         timeout=10)


def test_the_old_made_up_header_is_refused_like_shopify_refuses_a_missing_token():
    with serving(make_world(persons=30, seed=3)) as server:
        body = {"query": QUERIES["customers"], "variables": {"first": 5}}
        refused = post(server, body, token_header="X-Shop-Access-Token")
        assert refused.status_code == 401
        assert "Invalid API key or access token" in refused.json()["errors"]
        assert post(server, body).status_code == 200


def test_connection_pages_follow_the_cursor_and_the_filter_is_inclusive():
    with serving(make_world(persons=60, seed=4)) as server:
        nodes, after = [], None
        while True:
            r = post(server, {"query": QUERIES["customers"], "variables": {"first": 7, "after": after}}).json()
            conn = r["data"]["customers"]
            nodes += conn["nodes"]
            assert r["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 2000.0
            if not conn["pageInfo"]["hasNextPage"]:
                break
            after = conn["pageInfo"]["endCursor"]
        assert len(nodes) == len(server.served("shop/customers"))
        assert all(n["id"].startswith("gid://shopify/Customer/") for n in nodes)
        stamps = [n["updatedAt"] for n in nodes]
        assert stamps == sorted(stamps)
        middle = stamps[len(stamps) // 2]
        r = post(server, {"query": QUERIES["customers"],
                          "variables": {"first": 250, "query": f"updated_at:>='{middle}'"}}).json()
        got = [n["updatedAt"] for n in r["data"]["customers"]["nodes"]]
        assert got == [s for s in stamps if s >= middle]


def test_graphql_errors_are_answered_with_200_and_an_errors_list():
    with serving(make_world(persons=20, seed=5)) as server:
        r = post(server, {"query": "{ shop { name } }"})
        assert r.status_code == 200 and r.json()["errors"][0]["extensions"]["code"] == "undefinedField"
        r = post(server, {"query": QUERIES["orders"], "variables": {"first": 251}})
        assert "errors" in r.json() and "data" not in r.json()


def test_hostile_profile_throttles_by_query_cost_and_the_connector_waits_it_out():
    quiet = PROFILES["hostile"].with_(p_500=0, p_502=0, p_503=0, p_slow=0, p_truncated_length=0,
                                      p_truncated_json=0, p_reset=0, p_storm=0)
    with serving(make_world(persons=150, seed=6), faults=quiet) as server:
        body = {"query": QUERIES["orders"], "variables": {"first": 100}}
        answers = [post(server, body).json() for _ in range(3)]
        throttled = [a for a in answers if "errors" in a]
        assert throttled, "two queries of 1202 points in a row exceed a bucket of 2000"
        assert throttled[0]["errors"][0]["extensions"]["code"] == "THROTTLED" and "data" not in throttled[0]
        status = throttled[0]["extensions"]["cost"]["throttleStatus"]
        assert status["currentlyAvailable"] < throttled[0]["extensions"]["cost"]["requestedQueryCost"]
        assert status["restoreRate"] > 0

        time.sleep(2.5)  # the bucket refills
        waits: list[float] = []
        client = ShopClient(server.url("shop"), CREDENTIALS, bulk_after_days=None,  # the paginated path
                            sleep=lambda s: (waits.append(s), time.sleep(s)))
        records = [r for page in client.fetch("orders", None) for r in page.records]
        client.close()
        assert len(records) == len(server.served("shop/orders")) > 4 * 50
        assert any(w > 0 for w in waits), "the connector waits for the bucket instead of hammering it"
