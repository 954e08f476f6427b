"""The daily matching path: under one stored model, scoring only the pairs of the day's changed records
and keeping the other stored pairs gives exactly the pairs and clusters of a full scoring; and the
model is retrained when it should be, and only then.

One world, one dbt run (about 15-30 s): day one trains and resolves, day two lands only the records
`world.advance_day()` changed, then runs the daily path and, on a copy, a full scoring with the same model.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from c360.identity.match_run import (DAILY, FULL, MATCH_INPUT, TRAINED, StoredModel, load_model, match_records,
                                retrain_reason)
from c360.identity.matching import DEFAULT_THRESHOLD, REVIEW_THRESHOLD, TrainedModel, score_pairs
from c360.identity.resolve import resolve, write_match_pairs
from c360.identity.schema import CROSSWALK_TABLE, MATCH_PAIRS_TABLE, MATCH_RUNS_TABLE, RECORDS_TABLE, REVIEW_PAIRS_TABLE
from tests.conftest import TEST_TODAY
from tests.identity.test_end_to_end import _copy_warehouse, _identity_input, _rebuild_identity_models
from demo_sources.testing.world_loader import land_changes

SEED = 4712
PERSONS = 1500
DAY2 = TEST_TODAY + timedelta(days=1)
PAIR_KEY = ["record_key_l", "record_key_r"]


def _pairs(con: duckdb.DuckDBPyConnection, table: str = MATCH_PAIRS_TABLE) -> pd.DataFrame:
    return con.execute(f"select * from {table}").df().sort_values(PAIR_KEY).reset_index(drop=True)


def _crosswalk(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(f"select record_key, golden_customer_id, link_rule, match_probability from {CROSSWALK_TABLE} "
                       f"order by record_key").df()


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """Day one trained and resolved; day two's changes landed and `int_customer_records` rebuilt."""
    from demo_sources.world import generate_world

    base = tmp_path_factory.mktemp("identity_daily")
    world = generate_world(PERSONS, SEED, today=TEST_TODAY)
    warehouse, target = _identity_input(base, world)
    con = duckdb.connect(str(warehouse))
    day_one = match_records(con, TEST_TODAY).stats
    resolve(con, TEST_TODAY)
    day_one_pairs = _pairs(con)
    landed = land_changes(con, world.advance_day())
    _rebuild_identity_models(con, target)
    con.close()
    return {"base": base, "warehouse": warehouse, "day_one": day_one, "day_one_pairs": day_one_pairs,
            "landed": landed}


@pytest.fixture(scope="module")
def daily_and_full(days):
    """Day two twice from the same warehouse: the daily path (changed pairs scored, changed components
    re-resolved), and a full scoring and full resolution with the same model."""
    daily_con = duckdb.connect(str(_copy_warehouse(days["warehouse"], days["base"] / "daily")))
    full_con = duckdb.connect(str(_copy_warehouse(days["warehouse"], days["base"] / "full")))
    daily = match_records(daily_con, DAY2).stats
    daily_resolution = resolve(daily_con, DAY2).stats
    full = score_pairs(MATCH_INPUT, load_model(full_con).model, full_con)
    write_match_pairs(full_con, full.pairs)
    # the review band of a full scoring: from REVIEW_THRESHOLD up to the threshold
    scored = score_pairs(MATCH_INPUT, load_model(full_con).model, full_con, threshold=REVIEW_THRESHOLD).pairs.to_pandas()
    full_band = scored[scored["match_probability"] < DEFAULT_THRESHOLD].sort_values(PAIR_KEY).reset_index(drop=True)
    full_resolution = resolve(full_con, DAY2, full=True).stats
    result = {"daily": daily, "full": full.stats, "daily_resolution": daily_resolution,
              "full_resolution": full_resolution, "daily_pairs": _pairs(daily_con), "full_pairs": _pairs(full_con),
              "daily_crosswalk": _crosswalk(daily_con), "full_crosswalk": _crosswalk(full_con),
              "daily_band": _pairs(daily_con, REVIEW_PAIRS_TABLE), "full_band": full_band}
    daily_con.close()
    full_con.close()
    return result


def test_day_one_trains_and_stores_the_model(days):
    assert days["day_one"]["path"] == TRAINED and days["day_one"]["reason"] == "no stored model"
    con = duckdb.connect(str(days["warehouse"]), read_only=True)
    stored = load_model(con)
    records = con.execute(f"select count(*) from {MATCH_INPUT}").fetchone()[0]
    con.close()
    assert stored.trained_on == TEST_TODAY and stored.model.records == days["day_one"]["records"]
    assert stored.model.records < records  # day two's new records are not in the model
    assert stored.model.settings["comparisons"][0]["comparison_levels"][1]["m_probability"] > 0


def test_daily_scores_only_the_changed_records_pairs(days, daily_and_full):
    daily = daily_and_full["daily"]
    assert daily["path"] == DAILY and daily["reason"] is None
    assert 0 < daily["changed_records"] < daily["records"] / 10
    assert daily["pairs_scored"] < daily_and_full["full"]["pairs"] / 4
    keys = daily_and_full["daily_pairs"][PAIR_KEY]
    assert not keys.duplicated().any()


def test_daily_pairs_equal_a_full_scoring_with_the_same_model(days, daily_and_full):
    daily, full = daily_and_full["daily_pairs"], daily_and_full["full_pairs"]
    # the day changed the pairs: keeping day one's pairs would not pass
    assert not full.equals(days["day_one_pairs"])
    assert len(daily) == len(full)
    pd.testing.assert_frame_equal(daily, full, check_exact=True)


def test_daily_review_band_equals_a_full_scoring(daily_and_full):
    daily, full = daily_and_full["daily_band"], daily_and_full["full_band"]
    assert len(full) > 0 and full["match_probability"].between(REVIEW_THRESHOLD, DEFAULT_THRESHOLD).all()
    pd.testing.assert_frame_equal(daily, full, check_exact=True, check_dtype=False)


def test_daily_crosswalk_equals_the_full_one(daily_and_full):
    daily, full = daily_and_full["daily_resolution"], daily_and_full["full_resolution"]
    assert daily["resolution"] == "incremental" and full["resolution"] == "full"
    assert 0 < daily["records_reresolved"] < full["records_reresolved"] == full["records"]
    pd.testing.assert_frame_equal(daily_and_full["daily_crosswalk"], daily_and_full["full_crosswalk"],
                                  check_exact=True)


def test_a_run_after_a_daily_one_goes_on_from_its_bound(days, tmp_path):
    """Nothing landed since: a daily run scores nothing and keeps every pair."""
    con = duckdb.connect(str(_copy_warehouse(days["warehouse"], tmp_path / "again")))
    match_records(con, DAY2)
    before = _pairs(con)
    again = match_records(con, DAY2).stats
    after = _pairs(con)
    runs = con.execute(f"select path from {MATCH_RUNS_TABLE} order by run_at").fetchall()
    con.close()
    assert again["path"] == DAILY and again["changed_records"] == 0 and again["pairs_scored"] == 0
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    assert [path for (path,) in runs] == [TRAINED, DAILY, DAILY]


def test_past_the_share_of_new_records_the_model_is_retrained(days, tmp_path):
    con = duckdb.connect(str(_copy_warehouse(days["warehouse"], tmp_path / "share")))
    stats = match_records(con, DAY2, retrain_share=0.0).stats
    stored = load_model(con)
    records = con.execute(f"select count(*) from {MATCH_INPUT}").fetchone()[0]
    con.close()
    assert stats["path"] == TRAINED and "since the training" in stats["reason"]
    assert stored.trained_on == DAY2 and stored.model.records == records


def test_another_threshold_scores_everything_with_the_stored_model(days, tmp_path):
    con = duckdb.connect(str(_copy_warehouse(days["warehouse"], tmp_path / "threshold")))
    stats = match_records(con, DAY2, threshold=0.95).stats
    trained_on = load_model(con).trained_on
    con.close()
    assert stats["path"] == FULL and stats["pairs_scored"] == stats["pairs"]
    assert trained_on == TEST_TODAY


def _stored(trained_on: date, records: int = 1000) -> StoredModel:
    return StoredModel(TrainedModel({}, None, records), trained_on, None, None)


@pytest.mark.parametrize(
    ("stored", "run_date", "since_training", "requested", "retrains"),
    [
        (None, DAY2, 0, False, True),  # no model
        (_stored(TEST_TODAY), TEST_TODAY + timedelta(days=7), 0, False, True),  # a week old
        (_stored(TEST_TODAY), TEST_TODAY + timedelta(days=6), 0, False, False),
        (_stored(TEST_TODAY), DAY2, 51, False, True),  # 5.1 % new records
        (_stored(TEST_TODAY), DAY2, 50, False, False),  # 5.0 %: not past the share
        (_stored(TEST_TODAY), DAY2, 0, True, True),  # on request
    ],
)
def test_retrain_triggers(stored, run_date, since_training, requested, retrains):
    reason = retrain_reason(stored, run_date, since_training, retrain_days=7, retrain_share=0.05,
                            requested=requested)
    assert (reason is not None) == retrains, reason


def test_records_table_has_the_load_time_the_daily_path_follows(days):
    con = duckdb.connect(str(days["warehouse"]), read_only=True)
    loads = con.execute(f"select count(distinct loaded_at) from {RECORDS_TABLE}").fetchone()[0]
    con.close()
    assert sum(days["landed"].values()) > 0 and loads == 2


def test_the_asset_retrains_on_request_and_says_which_path_ran(days, tmp_path):
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from orchestration.assets.identity import identity_match_pairs
    from orchestration.resources import SparkResource

    warehouse = _copy_warehouse(days["warehouse"], tmp_path / "asset")
    result = dg.materialize(
        [identity_match_pairs], resources={"warehouse": DuckDBResource(database=str(warehouse)),
                                          "spark": SparkResource()},
        run_config={"ops": {"intermediate__identity_match_pairs": {"config": {"retrain": True,
                                                                             "as_of": DAY2.isoformat()}}}},
    )
    metadata = result.asset_materializations_for_node("intermediate__identity_match_pairs")[0].metadata
    assert metadata["path"].value == TRAINED and metadata["reason"].value == "requested"
    assert metadata["model_trained_on"].value == DAY2.isoformat()
    assert metadata["pairs_scored"].value == metadata["pairs"].value > 0
