"""Daily identity resolution on a large warehouse: only what changed vs everything, same crosswalk.

    python benchmarks/bench_resolution_daily.py --warehouse /path/to/c360.duckdb [--change-share 0.005]

Works on a copy of `--warehouse` (a warehouse the pipeline has resolved at least once, e.g. the one
`bench_daily.py --persons 1000000` leaves behind). On the copy:

1. resolves once, so that the stored resolution state matches the crosswalk;
2. makes a synthetic day in the resolution's inputs: `--change-share` of the records get another
   e-mail, as many another first name, a fifth of that share of the records are deleted with their
   links (the daily path of matching would have replaced those records' pairs the same way);
3. resolves that day twice from the same state: the daily way (only the components the changes
   touch) and with `full=True`, and prints both times and the number of crosswalk and history rows
   that differ (0 expected).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAY = date(2026, 12, 4)
STATE_TABLES = ("marts.golden_customer_sources", "marts.golden_customer_id_history",
                "intermediate.identity_resolved_records", "intermediate.identity_resolved_links",
                "intermediate.identity_resolution_state")
CROSSWALK = "select record_key, golden_customer_id, link_rule, match_probability from marts.golden_customer_sources"
HISTORY = f"select * exclude (recorded_at) from marts.golden_customer_id_history where event_date = '{DAY}'"


def synthetic_day(con, share: float) -> None:
    every = max(int(round(1 / share)), 1)
    con.execute(f"""update intermediate.int_customer_records
                    set email_normalized = 'moved' || hash(record_key) % 5000 || '@example.org'
                    where hash(record_key || 'e') % {every} = 0""")
    con.execute(f"update intermediate.int_customer_records set first_name_folded = 'anna' "
                f"where hash(record_key || 'f') % {every} = 0")
    con.execute(f"create temp table gone as select record_key from intermediate.int_customer_records "
                f"where hash(record_key || 'g') % {every * 5} = 0")
    con.execute("delete from intermediate.int_customer_records where record_key in (select record_key from gone)")
    for links in ("intermediate.identity_match_pairs", "intermediate.int_identity_certain_links"):
        con.execute(f"delete from {links} where record_key_l in (select record_key from gone) "
                    f"or record_key_r in (select record_key from gone)")


def differing(con, query: str, stored: str) -> int:
    return con.execute(f"select count(*) from ((from {stored} except {query}) union all ({query} except from {stored}))"
                       ).fetchall()[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--change-share", type=float, default=0.005)
    args = parser.parse_args()

    import duckdb

    from c360.identity.resolve import resolve

    workdir = Path(tempfile.mkdtemp(prefix="bench_resolution_"))
    copy = workdir / "c360.duckdb"
    shutil.copyfile(args.warehouse, copy)
    con = duckdb.connect(str(copy))
    first = resolve(con, DAY).stats["resolution"]
    synthetic_day(con, args.change_share)
    for table in STATE_TABLES:
        con.execute(f"create table main.before_{table.split('.')[1]} as from {table}")
    started = time.perf_counter()
    daily = resolve(con, DAY).stats
    daily_seconds = time.perf_counter() - started
    con.execute(f"create table main.daily_crosswalk as {CROSSWALK}; create table main.daily_history as {HISTORY}")
    for table in STATE_TABLES:
        con.execute(f"create or replace table {table} as from main.before_{table.split('.')[1]}")
    started = time.perf_counter()
    full = resolve(con, DAY, full=True).stats
    full_seconds = time.perf_counter() - started
    keys = ("resolution", "records", "records_changed", "records_reresolved", "clusters", "ids_new", "ids_merges",
            "ids_splits", "ids_moves")
    print(json.dumps({
        "first_resolution": first,
        "daily": {"seconds": round(daily_seconds, 1), **{k: daily.get(k) for k in keys}},
        "full": {"seconds": round(full_seconds, 1), **{k: full.get(k) for k in keys}},
        "daily_over_full": round(daily_seconds / full_seconds, 2),
        "crosswalk_rows_differing": differing(con, CROSSWALK, "main.daily_crosswalk"),
        "history_rows_differing": differing(con, HISTORY, "main.daily_history"),
    }, indent=2))
    con.close()
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
