"""The whole graph downstream of raw landing builds on a generated world and maps every record."""

import duckdb


def test_pipeline_builds_a_crosswalk_covering_every_customer_record(pipeline_warehouse):
    path, world = pipeline_warehouse
    truth = world.truth()
    with duckdb.connect(str(path), read_only=True) as con:
        crosswalk = con.execute(
            "select source_system, source_record_id, count(*) from marts.golden_customer_sources group by all"
        ).fetchall()
        golden = con.execute("select count(*) from marts.golden_customers").fetchone()[0]
    assert all(n == 1 for *_, n in crosswalk), "a source record is mapped more than once"
    mapped = {(system, record_id) for system, record_id, _ in crosswalk}
    expected = set(zip(truth.source_system, truth.source_record_id))
    assert mapped == expected
    people = truth.person_id.nunique()
    # Identity resolution is measured in tests/identity; here only that the count is of that order.
    assert 0.95 * people <= golden <= 1.05 * people
