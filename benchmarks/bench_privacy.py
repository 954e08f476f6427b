"""Privacy requests on a full warehouse: `find` and the Art. 15 `export` per person, and the Art. 17
erasure of one person and of many at once, timed.

    python benchmarks/bench_privacy.py --persons 100000 [--seed 2028] [--workdir /tmp/bench_privacy]
        [--warehouse FILE] [--people 20] [--erase-many 1000]

1. unless `--warehouse` names a built one: generates a world, loads all resources into the raw
   tables (demo_sources/testing/world_loader.py) and runs everything downstream of raw through
   Dagster in this process (dbt, identity, facts, KPIs, segments), as the test session build does;
2. picks `--people` golden customers with the most source records (the largest exports) and, for
   each, finds them by e-mail and exports everything held about them (c360/privacy.py);
3. on a copy of the warehouse, erases the person with the most source records (one transaction,
   `c360.erasure.erase_in`), then `--erase-many` other golden customers at once (`erase_many_in`),
   each followed by a checkpoint (0: no erasure timing);
4. prints one JSON document: build seconds, per look-up the median and maximum seconds, and the
   erasure seconds with the rows they deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_warehouse(persons: int, seed: int, warehouse: Path) -> float:
    """A full warehouse from a generated world: raw tables loaded directly, the rest through Dagster."""
    import dagster as dg
    import duckdb

    from c360.settings import DEMO_ERP_CUSTOM_FIELDS, SYSTEMS
    from connectors import ALL_RESOURCES
    from demo_sources.testing.world_loader import load_world
    from demo_sources.world import generate_world

    os.environ["C360_WAREHOUSE"] = str(warehouse)
    os.environ["C360_BI_WAREHOUSE"] = str(warehouse.with_name("bi.duckdb"))
    os.environ["C360_BI_PARQUET_DIR"] = str(warehouse.parent / "bi_parquet")
    for name, value in DEMO_ERP_CUSTOM_FIELDS.items():  # the demo ERP's custom fields, as the tests run it
        os.environ.setdefault(name, value)
    started = time.perf_counter()
    world = generate_world(persons, seed)
    with duckdb.connect(str(warehouse)) as con:
        load_world(con, world, resources=[spec.key for spec in ALL_RESOURCES])
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    selection = dg.AssetSelection.all() - dg.AssetSelection.groups(*SYSTEMS)
    job = defs.resolve_implicit_global_asset_job_def()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), run_config=quiet, raise_on_error=False,
                                    asset_selection=list(selection.resolve(defs.resolve_asset_graph())))
    if not result.success:
        failed = sorted({e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"})
        raise SystemExit(f"the build failed in {failed}")
    return round(time.perf_counter() - started, 1)


def time_lookups(warehouse: Path, people: int) -> dict:
    import duckdb

    from c360 import privacy

    with duckdb.connect(str(warehouse), read_only=True) as con:
        picked = con.execute(
            """
            select s.golden_customer_id, any_value(r.email_normalized) filter (r.email_normalized is not null)
            from marts.golden_customer_sources s
            join intermediate.int_customer_records r using (record_key)
            group by all having count(r.email_normalized) > 0
            order by count(*) desc, s.golden_customer_id limit ?
            """, [people]).fetchall()
    find_seconds, export_seconds, sizes = [], [], []
    for golden_id, email in picked:
        started = time.perf_counter()
        found = privacy.find_person(privacy.PersonQuery(email=email), warehouse=warehouse)
        find_seconds.append(time.perf_counter() - started)
        assert golden_id in [g["golden_customer_id"] for g in found["golden_customers"]]
        started = time.perf_counter()
        document = privacy.export_person(golden_id, warehouse=warehouse)
        export_seconds.append(time.perf_counter() - started)
        sizes.append(len(privacy.to_json(document)))
    return {
        "people": len(picked),
        "find_seconds": {"median": round(statistics.median(find_seconds), 3), "max": round(max(find_seconds), 3)},
        "export_seconds": {"median": round(statistics.median(export_seconds), 3),
                           "max": round(max(export_seconds), 3)},
        "export_bytes": {"median": int(statistics.median(sizes)), "max": max(sizes)},
    }


def time_erasure(warehouse: Path, workdir: Path, many: int) -> dict:
    """Erasure on a copy (the warehouse itself stays as built): one person, then `many` at once."""
    import shutil

    import duckdb

    from c360 import erasure

    copy = workdir / "erasure_copy.duckdb"
    shutil.copyfile(warehouse, copy)
    Path(str(copy) + erasure.SALT_FILE_SUFFIX).unlink(missing_ok=True)
    figures = {}
    with duckdb.connect(str(copy)) as con:
        ranked = [r[0] for r in con.execute(
            """select golden_customer_id from marts.golden_customer_sources group by all
               order by count(*) desc, golden_customer_id""").fetchall()]
        for label, people in (("erase_one", ranked[:1]), (f"erase_{many}_at_once", ranked[1:1 + many])):
            started = time.perf_counter()
            result = erasure.erase_many_in(con, people, reason="benchmark")
            con.execute("checkpoint")
            figures[label] = {"people": len(people), "seconds": round(time.perf_counter() - started, 2),
                              "rows_deleted": sum(result.deleted.values()),
                              "rows_pseudonymised": sum(result.pseudonymised.values()),
                              "records_suppressed": result.suppressed}
    copy.unlink()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2028)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_privacy"))
    parser.add_argument("--warehouse", type=Path, help="a built warehouse to time (no build)")
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--erase-many", type=int, default=1000, help="golden customers erased at once (0: none)")
    args = parser.parse_args()

    figures: dict = {}
    warehouse = args.warehouse
    if warehouse is None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        warehouse = args.workdir / f"c360_{args.persons}.duckdb"
        warehouse.unlink(missing_ok=True)
        figures.update(persons=args.persons, seed=args.seed,
                       build_seconds=build_warehouse(args.persons, args.seed, warehouse))
    figures["warehouse"] = str(warehouse)
    figures.update(time_lookups(warehouse, args.people))
    if args.erase_many:
        args.workdir.mkdir(parents=True, exist_ok=True)
        figures.update(time_erasure(warehouse, args.workdir, args.erase_many))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
