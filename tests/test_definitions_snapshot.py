"""A snapshot of the code location: every asset with its group, kinds, owners, pools, dependencies and
checks, every job, schedule and sensor, as text in `tests/snapshots/definitions.txt`.

A renamed asset key, a lost check or a new dependency shows up here as a diff in review instead of
nowhere. After an intended change, write the snapshot again and commit it with the change:

    C360_UPDATE_SNAPSHOTS=1 pytest tests/test_definitions_snapshot.py
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.txt"


def _names(items) -> str:
    return ", ".join(sorted(items)) or "-"


def describe_definitions(defs) -> str:
    """The definitions as sorted text, one block per asset, then jobs, schedules and sensors."""
    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        lines.append(f"asset {key.to_user_string()}")
        lines.append(f"  group: {node.group_name}; kinds: {_names(node.kinds)}; owners: {_names(node.owners)}; "
                     f"pools: {_names(node.pools or ())}; freshness: {'yes' if node.freshness_policy else 'no'}")
        lines.append(f"  deps: {_names(parent.to_user_string() for parent in node.parent_keys)}")
        for check in sorted(node.check_keys, key=lambda c: c.name):
            blocking = graph.get(check).blocking
            lines.append(f"  check: {check.name}{' (blocking)' if blocking else ''}")
    for job in sorted(defs.jobs or (), key=lambda j: j.name):
        executor = job.executor_def.name if job.executor_def else "default"
        lines.append(f"job {job.name}: executor {executor}; selection {job.selection!r}")
    for schedule in sorted(defs.schedules or (), key=lambda s: s.name):
        lines.append(f"schedule {schedule.name}: {schedule.cron_schedule} {schedule.execution_timezone} "
                     f"-> {schedule.job_name}")
    for sensor in sorted(defs.sensors or (), key=lambda s: s.name):
        lines.append(f"sensor {sensor.name}")
    return "\n".join(lines) + "\n"


def test_definitions_match_the_snapshot():
    from orchestration.definitions import build_definitions

    current = describe_definitions(build_definitions())
    if os.environ.get("C360_UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists() and current == SNAPSHOT.read_text(), (
        "the definitions changed: review the diff, then write the snapshot again with "
        "C360_UPDATE_SNAPSHOTS=1 pytest tests/test_definitions_snapshot.py"
    )


def test_loading_the_definitions_reads_no_setting_but_the_engine():
    """The code location reads no environment variable when it loads (resources take their settings
    when a step runs) but the engine, which shapes the definitions: every setting goes through
    `c360.settings._env`, which refuses here any other."""
    import subprocess
    import sys

    script = (
        "import c360.settings as s\n"
        "read = s._env\n"
        "def refuse(name, default):\n"
        "    if name == 'C360_ENGINE':\n"
        "        return read(name, default)\n"
        "    raise SystemExit(f'{name} read while the definitions load')\n"
        "s._env = refuse\n"
        "import orchestration.definitions\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_spark_engine_shapes_the_definitions():
    """With C360_ENGINE=spark the dbt steps run `c360-spark-dbt` on the profile's `spark` target, the UI
    shows Spark as the kind of what it builds, and the BI snapshot, a copy of the DuckDB warehouse's
    marts, is left out (BI tools read Spark's catalog); on DuckDB all is as before."""
    import json
    import os
    import subprocess
    import sys

    script = (
        "import json, dagster as dg\n"
        "from orchestration.definitions import defs\n"
        "graph, dbt = defs.resolve_asset_graph(), defs.resources['dbt']\n"
        "kinds = {'/'.join(k.path): sorted(graph.get(k).kinds) for k in graph.get_all_asset_keys()}\n"
        "print(json.dumps({'kinds': kinds, 'dbt': [dbt.dbt_executable.rsplit('/', 1)[-1], dbt.target]}))\n"
    )
    shapes = {}
    for engine in ("duckdb", "spark"):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                              cwd=Path(__file__).resolve().parents[1], env={**os.environ, "C360_ENGINE": engine})
        assert done.returncode == 0, done.stderr[-2000:]
        shapes[engine] = json.loads(done.stdout.strip().splitlines()[-1])
    duckdb_kinds, spark_kinds = shapes["duckdb"]["kinds"], shapes["spark"]["kinds"]
    assert shapes["duckdb"]["dbt"] == ["dbt", None] and shapes["spark"]["dbt"] == ["c360-spark-dbt", "spark"]
    assert duckdb_kinds["marts/golden_customers"] == ["dbt", "duckdb"]
    assert spark_kinds["marts/golden_customers"] == ["dbt", "spark"]
    assert spark_kinds["intermediate/identity_match_pairs"] == ["duckdb", "spark", "splink"]
    assert spark_kinds["raw/shop_customers"] == duckdb_kinds["raw/shop_customers"] == ["duckdb", "python"]
    # the erasure keeps its bookkeeping in the driver's DuckDB warehouse and rewrites Spark's tables
    assert spark_kinds["raw/_erasures"] == ["duckdb", "spark"] and duckdb_kinds["raw/_erasures"] == ["duckdb"]
    assert set(duckdb_kinds) - set(spark_kinds) == {"serving/bi_snapshot"}


def test_hand_typed_asset_keys_name_assets_that_exist():
    """Asset keys typed outside Python (dbt sources' `meta.dagster.asset_key`, the quality suites'
    `asset:`) name assets the code location materializes: a typo would otherwise make an unexecutable
    stub in the graph (a dbt source) or a check on nothing (a suite), and no run would fail."""
    import dagster as dg

    from c360.quality.suites import load_suites
    from orchestration.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    stubs = sorted(key.to_user_string() for key in graph.get_all_asset_keys() if not graph.get(key).is_materializable)
    assert not stubs, f"assets nothing materializes (a mistyped key?): {stubs}"
    suite_assets = {dg.AssetKey(list(suite.asset)) for suite in load_suites()}
    assert suite_assets, "no suites loaded: the test would prove nothing"
    unknown = sorted(k.to_user_string() for k in suite_assets - graph.get_all_asset_keys())
    assert not unknown, f"suites gate assets that do not exist: {unknown}"
