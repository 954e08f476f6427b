"""End to end on generated worlds: raw tables -> dbt (staging, identity models) -> Splink -> guards,
clusters, stable ids -> dbt golden_customers and its tests; quality against the world's truth.

dbt runs twice in this module (about 15-30 s each). The day-two rebuild of the two identity
models and the customers-only world reuse the SQL dbt compiled in the first run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from c360.identity.evaluate import evaluate
from c360.identity.matching import predict_pairs
from c360.identity.resolve import resolve, write_match_pairs
from c360.identity.schema import CROSSWALK_TABLE, HISTORY_TABLE, RECORDS_TABLE
from tests.conftest import TEST_TODAY
from demo_sources.testing.world_loader import CUSTOMER_RESOURCES, load_world

ROOT = Path(__file__).resolve().parents[2]
DBT_DIR = ROOT / "dbt_project"
# not the seeds the matcher was tuned on (1234, 2027)
SEED = 4711
PERSONS = 2500
IDENTITY_MODELS = ("int_customer_records", "int_identity_certain_links")


def _dbt(warehouse: Path, *args: str, target_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "C360_WAREHOUSE": str(warehouse),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        ["dbt", *args, "--profiles-dir", str(DBT_DIR), "--target-path", str(target_path), "--log-path",
         str(target_path / "logs")],
        cwd=DBT_DIR, env=env, capture_output=True, text=True,
    )


def _identity_input(base: Path, world) -> tuple[Path, Path]:
    """(warehouse, dbt target) holding the world's raw records and the identity input dbt built from them."""
    warehouse, target = base / "warehouse.duckdb", base / "dbt_target"
    with duckdb.connect(str(warehouse)) as con:
        load_world(con, world)
    built = _dbt(warehouse, "run", "--select", "+int_identity_certain_links", target_path=target)
    assert built.returncode == 0, built.stdout[-4000:]
    return warehouse, target


def _rebuild_identity_models(con: duckdb.DuckDBPyConnection, target_path: Path) -> None:
    """Re-create the two identity tables from the SQL dbt compiled (no dbt start-up)."""
    for model in IDENTITY_MODELS:
        sql = (target_path / "compiled" / "c360" / "models" / "identity" / f"{model}.sql").read_text()
        con.execute(f"create or replace table intermediate.{model} as ({sql})")


def _copy_warehouse(source: Path, directory: Path) -> Path:
    """A copy under the same file name: dbt's views name the catalog after the file."""
    directory.mkdir()
    return Path(shutil.copy(source, directory / source.name))


def _run_identity(con: duckdb.DuckDBPyConnection, run_date: date) -> dict:
    pairs = predict_pairs(f"(select * from {RECORDS_TABLE} where not is_collective_contact)", con)
    write_match_pairs(con, pairs.pairs)
    return resolve(con, run_date).stats


def _metrics(con, truth: pd.DataFrame) -> dict:
    crosswalk = con.execute(f"select source_system, source_record_id, golden_customer_id from {CROSSWALK_TABLE}").df()
    records = con.execute(
        f"select source_system, source_record_id, phone_e164, street_normalized, postcode from {RECORDS_TABLE}"
    ).df()
    return evaluate(crosswalk, truth, records)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from demo_sources.world import generate_world

    base = tmp_path_factory.mktemp("identity_e2e")
    world = generate_world(PERSONS, SEED, today=TEST_TODAY)
    warehouse, target = _identity_input(base, world)
    con = duckdb.connect(str(warehouse))
    stats = _run_identity(con, TEST_TODAY)
    day_one = {
        "crosswalk": con.execute(f"select * from {CROSSWALK_TABLE}").df(),
        "metrics": _metrics(con, world.truth()),
    }
    con.close()
    # the identity models again (cheap) so that their tests run too, the mart, and every test whose
    # parents are all among them (sources written by the Python steps included)
    second = _dbt(warehouse, "build", "--select", *IDENTITY_MODELS, "golden_customers", "source:identity_resolution",
                  "--indirect-selection", "cautious", target_path=target)
    yield {"world": world, "warehouse": warehouse, "target": target, "stats": stats, "dbt_marts": second, **day_one}


def test_quality_against_truth(built):
    m = built["metrics"]
    assert m["unmapped_records"] == 0 and m["records_not_in_truth"] == 0
    assert m["precision"] >= 0.99, m
    assert m["recall"] >= 0.97, m
    assert m["exact_person_share"] >= 0.95, m


def test_households_stay_apart(built):
    m = built["metrics"]
    assert m["household_pairs_different_people"] > 0  # the world has households to keep apart
    assert m["household_precision"] >= 0.99, m


def test_crosswalk_maps_every_record_exactly_once(built):
    con = duckdb.connect(str(built["warehouse"]), read_only=True)
    records = con.execute(f"select count(*) from {RECORDS_TABLE}").fetchall()[0][0]
    crosswalk = built["crosswalk"]
    assert len(crosswalk) == records
    assert not crosswalk.duplicated(["source_system", "source_record_id"]).any()
    assert set(crosswalk["link_rule"]) >= {"splink", "singleton", "shop_order_in_erp_order"}
    con.close()


def test_golden_customers_and_dbt_tests(built):
    result = built["dbt_marts"]
    assert result.returncode == 0, result.stdout[-4000:]
    con = duckdb.connect(str(built["warehouse"]), read_only=True)
    golden = con.execute("select * from marts.golden_customers").df()
    con.close()
    assert golden["golden_customer_id"].is_unique
    assert golden["source_records"].sum() == len(built["crosswalk"])
    for field in ("name", "email", "phone", "address", "birthday"):
        assert f"{field}_source" in golden.columns
    assert golden["email_source"].dropna().isin(["shop", "helpdesk", "erp", "accounting"]).all()
    assert (golden["shop_records"] + golden["erp_records"] + golden["helpdesk_records"]
            + golden["accounting_records"] == golden["source_records"]).all()


def test_stable_ids_across_a_day(built, tmp_path):
    warehouse = _copy_warehouse(built["warehouse"], tmp_path / "day2")
    world = built["world"]
    con = duckdb.connect(str(warehouse))
    before_raw = {
        key: con.execute(f"select id, record::varchar as record from raw.{table}").df()
        for key, table in (("shop", "shop_customers"), ("erp", "erp_partners"), ("helpdesk", "helpdesk_users"),
                           ("accounting", "accounting_contacts"))
    }
    changes = world.advance_day()
    assert any(changes.values())
    load_world(con, world)
    _rebuild_identity_models(con, built["target"])
    day2 = TEST_TODAY + timedelta(days=1)
    stats = _run_identity(con, day2)
    after = con.execute(f"select * from {CROSSWALK_TABLE}").df()
    history = con.execute(f"select * from {HISTORY_TABLE}").df()
    metrics = _metrics(con, world.truth())
    changed_keys = set()
    for system, table in (("shop", "shop_customers"), ("erp", "erp_partners"), ("helpdesk", "helpdesk_users"),
                          ("accounting", "accounting_contacts")):
        now = con.execute(f"select id, record::varchar as record from raw.{table}").df()
        joined = now.merge(before_raw[system], on="id", how="left", suffixes=("", "_before"))
        changed_keys |= set(system + ":" + joined.loc[joined["record"] != joined["record_before"], "id"])
    con.close()

    before = built["crosswalk"]
    assert metrics["precision"] >= 0.99 and metrics["recall"] >= 0.97, metrics
    # a golden customer none of whose records changed, and who was not merged, keeps their id
    old_ids = before.set_index("record_key")["golden_customer_id"]
    new_ids = after.set_index("record_key")["golden_customer_id"]
    # records the world deleted outright (shop customers without orders) are gone from the crosswalk
    gone = set(old_ids.index) - set(new_ids.index)
    changed_keys |= gone
    untouched = before.groupby("golden_customer_id")["record_key"].apply(set)
    untouched = untouched[untouched.map(lambda keys: not (keys & changed_keys))]
    merged_away = set(history.loc[history["event_type"] == "merged", "related_golden_customer_id"])
    kept = lost = 0
    for golden_id, keys in untouched.items():
        if golden_id in merged_away:
            continue
        if all(new_ids[k] == golden_id for k in keys):
            kept += 1
        else:
            lost += 1
    assert kept > 0.95 * len(untouched)
    assert lost == 0
    # every id that disappeared is in the history (merged, or its records all went elsewhere)
    # (an id none of whose records is left has nothing to be merged into: it simply ends)
    ended = set(old_ids) - set(old_ids[~old_ids.index.isin(gone)])
    disappeared = set(old_ids) - set(new_ids) - ended
    recorded = set(history["related_golden_customer_id"])
    assert disappeared <= recorded
    assert (history["event_date"].astype(str) == day2.isoformat()).all()
    assert stats["ids_kept"] >= 0.95 * before["golden_customer_id"].nunique()


def test_customers_only_world_still_resolves(built, tmp_path):
    """A replay without any order links (customers only): matching alone must carry it."""
    from demo_sources.world import generate_world

    world = generate_world(1500, SEED + 1, today=TEST_TODAY)
    # staging models and schemas, then fresh raw data
    warehouse = _copy_warehouse(built["warehouse"], tmp_path / "customers_only")
    con = duckdb.connect(str(warehouse))
    for table in con.execute("select table_name from information_schema.tables where table_schema = 'raw' "
                             "and table_name not like '\\_%' escape '\\'").fetchall():
        con.execute(f"delete from raw.{table[0]}")
    # The incremental staging tables take up what lands, not what is deleted from raw: empty them too.
    for (table,) in con.execute("select table_name from information_schema.tables where table_schema = 'staging' "
                                "and table_type = 'BASE TABLE' and starts_with(table_name, 'stg_')").fetchall():
        con.execute(f"delete from staging.{table}")
    con.execute(f"drop table if exists {CROSSWALK_TABLE}; drop table if exists {HISTORY_TABLE}")
    load_world(con, world, resources=CUSTOMER_RESOURCES)
    _rebuild_identity_models(con, built["target"])
    links = con.execute("select link_rule, count(*) from intermediate.int_identity_certain_links group by 1").fetchall()
    assert all(rule in ("erp_ref_in_shop_tags", "erp_ref_in_accounting_note", "helpdesk_external_id")
               for rule, _ in links)
    _run_identity(con, TEST_TODAY)
    m = _metrics(con, world.truth())
    con.close()
    assert m["precision"] >= 0.99, m
    assert m["recall"] >= 0.95, m
