"""An objection to direct marketing (GDPR Art. 21) takes the person out of every marketing list at the
next build, whatever the shop's consent; a withdrawal takes them back. On a copy of the session
warehouse, with real `dbt build`s of the models downstream of the objections."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from c360 import consent, privacy
from c360_cli.main import main as c360
from tests.conftest import copy_of_pipeline_warehouse, using_warehouse

EMAIL_SEGMENTS = ("besonders_profitabel", "treue_kunden", "abwanderungsgefaehrdet", "loyal_low_revenue")
MARKETING_SEGMENTS = (*EMAIL_SEGMENTS, "nach_schlechter_erfahrung")
ALL_SEGMENTS = (*MARKETING_SEGMENTS, "unprofitabel")


def build_downstream_of_objections(path: Path, *commands: str) -> None:
    from orchestration.assets.dbt_models import dbt_resource

    with using_warehouse(path):
        invocation = dbt_resource().cli(
            list(commands) or ["build", "--select", "stg_privacy__objections+", "--exclude-resource-type", "unit_test"],
            raise_on_error=False,
        ).wait()
    results = invocation.get_artifact("run_results.json")["results"]
    failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass")]
    assert results and not failed, failed


def memberships(path: Path) -> dict[str, set[str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {s: {r[0] for r in con.execute(f"select golden_customer_id from segments.{s}").fetchall()}
                for s in ALL_SEGMENTS}


def flags(path: Path, golden_id: str) -> tuple[bool, bool]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select email_marketing_allowed, has_marketing_objection from segments.customer_segments "
                           "where golden_customer_id = ?", [golden_id]).fetchone()


@pytest.fixture(scope="module")
def live(pipeline_warehouse, tmp_path_factory) -> Path:
    return copy_of_pipeline_warehouse(pipeline_warehouse, tmp_path_factory, "objections")


@pytest.fixture(scope="module")
def people(live) -> dict[str, str]:
    """A customer in an e-mail list (consent given, several source records), one in the phone list and
    one in the suppression list only."""
    chosen: dict[str, str] = {}
    with duckdb.connect(str(live), read_only=True) as con:
        for role, sql in (
            ("email", """select golden_customer_id from segments.treue_kunden join marts.golden_customers g
                         using (golden_customer_id) where g.source_records > 1"""),
            ("phone", "select golden_customer_id from segments.nach_schlechter_erfahrung"),
            ("suppression", """select golden_customer_id from segments.unprofitabel where golden_customer_id not in
                               (select golden_customer_id from segments.nach_schlechter_erfahrung)"""),
        ):
            found = con.execute(f"select min(golden_customer_id) from ({sql}) where golden_customer_id not in "
                                f"(select unnest(?::varchar[]))", [list(chosen.values())]).fetchone()[0]
            assert found, role
            chosen[role] = found
    return chosen


def test_objection_and_withdrawal_move_people_out_of_and_back_into_marketing_lists(live, people, capsys):
    before = memberships(live)
    assert flags(live, people["email"]) == (True, False)
    objecting = set(people.values())

    with duckdb.connect(str(live)) as con:
        stored = consent.record_request(con, consent.Request(people["email"], reason="keine Werbung mehr",
                                                             source="letter", requested_on=date(2026, 11, 30)))
        consent.record_request(con, consent.Request(people["phone"], source="phone"))
        with pytest.raises(ValueError, match="no objection in force"):
            consent.record_request(con, consent.Request(people["suppression"], consent.WITHDRAW))
        records = con.execute("select record_key from marts.golden_customer_sources where golden_customer_id = ? "
                              "order by 1", [people["email"]]).fetchall()
    assert stored["record_keys"] == [key for (key,) in records] and len(records) > 1
    assert c360(["privacy", "object", "--golden-id", people["suppression"], "--source", "web form",
                 "--warehouse", str(live)]) == 0
    assert c360(["privacy", "object", "--golden-id", "GC999999999", "--warehouse", str(live)]) == 1
    capsys.readouterr()

    build_downstream_of_objections(live)
    after = memberships(live)
    for segment in MARKETING_SEGMENTS:
        assert after[segment] == before[segment] - objecting, segment
    assert after["unprofitabel"] == before["unprofitabel"]  # the suppression list keeps them
    assert people["suppression"] in after["unprofitabel"]
    assert flags(live, people["email"]) == (False, True)

    with duckdb.connect(str(live)) as con:
        withdrawal = consent.record_request(con, consent.Request(people["email"], consent.WITHDRAW, source="e-mail",
                                                                 requested_on=date(2026, 12, 1)))
    build_downstream_of_objections(live)
    back = memberships(live)
    for segment in MARKETING_SEGMENTS:
        assert back[segment] == before[segment] - {people["phone"], people["suppression"]}, segment
    assert back["unprofitabel"] == before["unprofitabel"]
    assert people["email"] in back["treue_kunden"]
    assert flags(live, people["email"]) == (True, False)

    with duckdb.connect(str(live), read_only=True) as con:
        history = con.execute("""select event, state_after, event_date, request_source, reason, record_key
                                 from marts.consent_history where golden_customer_id = ?
                                 order by event_at nulls first, event""", [people["email"]]).fetchall()
        shop_states = con.execute("""select 'shop:' || source_record_id, email_marketing_consent_state,
                                            cast(timezone('Europe/Berlin', email_marketing_consent_updated_at) as date)
                                     from staging.stg_shop__customers where 'shop:' || source_record_id in
                                     (select record_key from marts.golden_customer_sources where golden_customer_id = ?)
                                     order by 1""", [people["email"]]).fetchall()
        kept = con.execute(f"select count(*), count(distinct request_id) from {consent.OBJECTIONS}").fetchone()
    requests = [row for row in history if row[0] != "shop_email_marketing_consent"]
    assert requests == [
        ("marketing_objection", "objected", date(2026, 11, 30), "letter", "keine Werbung mehr", None),
        ("marketing_objection_withdrawn", "withdrawn", date(2026, 12, 1), "e-mail", None, None),
    ]
    assert sorted((key, state, day) for _, state, day, _, _, key in history if key) == shop_states
    assert "subscribed" in {state for _, state, _ in shop_states}
    assert kept[1] == 4  # the history: three objections and a withdrawal, nothing overwritten

    # the access export (Art. 15) holds the requests as entered and the consent history
    document = privacy.export_person(people["email"], live)
    assert document["coverage"]["not_covered"] == []
    entered = document["systems"]["privacy"]["raw"]["raw.privacy_objections"]
    assert sorted({(r["request_id"], r["action"]) for r in entered}) == sorted(
        [(stored["request_id"], "object"), (withdrawal["request_id"], "withdraw")])
    assert len(entered) == 2 * len(records)
    assert len(document["tables"]["marts.consent_history"]) == len(history)


def test_an_objection_follows_the_records_to_a_new_golden_id(live, people):
    """Golden ids change when records merge or split: the objection is kept by record key. The build runs
    the model's unit test too (merges, splits, a withdrawal dated before the objection it follows)."""
    with duckdb.connect(str(live)) as con:
        consent.record_request(con, consent.Request(people["email"]))
        con.execute("update marts.golden_customer_sources set golden_customer_id = 'GC999999999' "
                    "where golden_customer_id = ?", [people["email"]])
    build_downstream_of_objections(live, "build", "--select", "stg_privacy__objections int_marketing_objections")
    with duckdb.connect(str(live), read_only=True) as con:
        objecting = dict(con.execute("select golden_customer_id, has_marketing_objection "
                                     "from intermediate.int_marketing_objections").fetchall())
    assert objecting.get("GC999999999") is True and people["email"] not in objecting
