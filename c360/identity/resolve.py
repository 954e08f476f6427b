"""The identity-resolution steps after matching, on the warehouse: guards, clustering, stable ids.

`resolve()` reads the records (`int_customer_records`), the certain links
(`int_identity_certain_links`) and the probable pairs (`identity_match_pairs`, from
`c360.identity.matching`), applies the guards, clusters, assigns stable ids against the previous
crosswalk, and writes `marts.golden_customer_sources` (one row per source record) and appends this
run's merges and splits to `marts.golden_customer_id_history`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timezone

import duckdb
import numpy as np
import pandas as pd

from c360.identity.clustering import CERTAIN_WEIGHT, cluster
from c360.identity.guards import GuardConfig, apply_guards
from c360.identity.schema import CERTAIN_LINKS_TABLE, CROSSWALK_TABLE, HISTORY_TABLE, MATCH_PAIRS_TABLE, RECORDS_TABLE
from c360.identity.stable_ids import HISTORY_COLUMNS, ID_PREFIX, assign_stable_ids

# how a record came into its cluster, strongest first (the crosswalk's `link_rule`)
SINGLETON = "singleton"


@dataclass
class ResolveResult:
    stats: dict


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
    )


def write_match_pairs(con: duckdb.DuckDBPyConnection, pairs, table: str = MATCH_PAIRS_TABLE) -> int:
    """Replace the probable-pairs table with an Arrow table of pairs."""
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.register("__pairs_arrow", pairs)
    con.execute(
        f"""create or replace table {table} as
            select record_key_l::varchar as record_key_l, record_key_r::varchar as record_key_r,
                   match_probability::double as match_probability, match_weight::double as match_weight
            from __pairs_arrow"""
    )
    con.unregister("__pairs_arrow")
    return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def candidate_edges(con: duckdb.DuckDBPyConnection, target: str, match_pairs: str | None,
                    certain_links: str | None) -> None:
    """One table of links: certain ones (rule name, no probability) and probable ones (`splink`)."""
    parts = []
    if certain_links:
        parts.append(f"select record_key_l, record_key_r, link_rule as rule, null::double as match_probability "
                     f"from {certain_links}")
    if match_pairs:
        parts.append(f"select record_key_l, record_key_r, 'splink' as rule, match_probability from {match_pairs}")
    if not parts:
        parts.append("select null::varchar as record_key_l, null::varchar as record_key_r, null::varchar as rule, "
                     "null::double as match_probability where false")
    con.execute(
        f"""
        create or replace temp table {target} as
        select least(record_key_l, record_key_r) as record_key_l, greatest(record_key_l, record_key_r) as record_key_r,
               rule, match_probability
        from ({' union all '.join(parts)})
        where record_key_l <> record_key_r
        """
    )


def _kept_edges(con: duckdb.DuckDBPyConnection, records_table: str, certain_links_table: str | None,
                match_pairs_table: str | None, guard_config: GuardConfig, use_guards: bool, stats: dict) -> None:
    """`__identity_kept`: the candidate links that pass the guards (all of them without guards)."""
    candidate_edges(con, "__identity_edges", match_pairs_table, certain_links_table)
    stats["certain_links"] = con.execute("select count(*) from __identity_edges where rule <> 'splink'").fetchall()[0][0]
    stats["probable_links"] = con.execute("select count(*) from __identity_edges where rule = 'splink'").fetchall()[0][0]
    if use_guards:
        vetoes = apply_guards(con, "__identity_edges", records_table, "__identity_kept", guard_config)
    else:
        con.execute("create or replace temp table __identity_kept as select * from __identity_edges")
        vetoes = {}
    stats["vetoed_links"] = vetoes


def _cluster_records(con: duckdb.DuckDBPyConnection, records_table: str, guard_config: GuardConfig, stats: dict):
    """(the records of `__identity_nodes` as an Arrow table, the kept links by node index, the clusters)."""
    con.execute(
        f"""create or replace temp table __identity_nodes as
            select row_number() over (order by record_key) - 1 as idx, record_key, source_system, source_record_id,
                   nullif(rtrim(first_name_folded, '.'), '') as first_name_folded, birthday
            from {records_table}"""
    )
    # Arrow to Python lists, not through pandas: its Arrow-backed strings go element by element to
    # objects (5 s for 2.35M records at 1M persons)
    nodes = con.sql("select record_key, first_name_folded, birthday from __identity_nodes order by idx").to_arrow_table()
    edges = con.execute(
        f"""select l.idx as l, r.idx as r,
                   case when e.rule = 'splink' then e.match_probability else {CERTAIN_WEIGHT} end as w
            from __identity_kept e
            join __identity_nodes l on l.record_key = e.record_key_l
            join __identity_nodes r on r.record_key = e.record_key_r
            -- links of equal strength are taken in this order: the same clusters on every run
            order by l, r"""
    ).fetchnumpy()
    first_names = np.array(nodes["first_name_folded"].to_pylist(), dtype=object)
    birthdays = np.array(nodes["birthday"].to_pylist(), dtype=object)
    clustered = cluster(nodes.num_rows, edges["l"], edges["r"], edges["w"], first_names, birthdays,
                        guard_config.max_cluster_size)
    stats.update(clustered.stats)
    return nodes, edges, clustered


def _strongest_inside_links(labels: np.ndarray, edges, n: int) -> np.ndarray:
    """How each record was linked: the weight of its strongest link inside its final cluster (-1: none)."""
    l_idx, r_idx, w = np.asarray(edges["l"]), np.asarray(edges["r"]), np.asarray(edges["w"], dtype=float)
    inside = labels[l_idx] == labels[r_idx] if len(l_idx) else np.zeros(0, bool)
    best = np.full(n, -1.0)
    np.maximum.at(best, l_idx[inside], w[inside])
    np.maximum.at(best, r_idx[inside], w[inside])
    return best


def _previous_ids(con: duckdb.DuckDBPyConnection, crosswalk_table: str, history_table: str):
    """(the previous crosswalk or None, the highest id number ever handed out)."""
    previous = None
    numbers = []
    number = f"max(substr({{col}}, {len(ID_PREFIX) + 1})::bigint)"
    if _table_exists(con, crosswalk_table):
        previous = con.execute(f"select record_key, golden_customer_id from {crosswalk_table}").df()
        numbers.append(f"select {number.format(col='golden_customer_id')} from {crosswalk_table}")
    if _table_exists(con, history_table):
        numbers.append(f"select {number.format(col='golden_customer_id')} from {history_table}")
        numbers.append(f"select {number.format(col='related_golden_customer_id')} from {history_table}")
    last_id_number = 0
    if numbers:
        last_id_number = int(con.execute(f"select coalesce(max(n), 0) from ({' union all '.join(numbers)}) t(n)").fetchall()[0][0])
    return (previous if previous is not None and len(previous) else None), last_id_number


def _write_crosswalk(con: duckdb.DuckDBPyConnection, crosswalk_table: str, crosswalk: pd.DataFrame,
                     run_date: date, resolved_at: datetime) -> None:
    con.register("__crosswalk_df", crosswalk)
    con.execute(f"create schema if not exists {crosswalk_table.split('.')[0]}")
    con.execute(
        f"""
        create or replace temp table __identity_rule as
        select e.record_key,
               -- a record tied by several certain rules names one of them, the same one on every run
               first(e.rule order by e.strength desc, e.rule) as link_rule,
               max(e.match_probability) as match_probability
        from (
            select k.record_key_l as record_key, k.rule, k.match_probability,
                   case when k.rule = 'splink' then k.match_probability else {CERTAIN_WEIGHT} end as strength
            from __identity_kept k
            union all
            select k.record_key_r, k.rule, k.match_probability,
                   case when k.rule = 'splink' then k.match_probability else {CERTAIN_WEIGHT} end
            from __identity_kept k
        ) e
        join __crosswalk_df c on c.record_key = e.record_key
        where e.strength = c.best
        group by e.record_key
        """
    )
    con.execute(
        f"""
        create or replace table {crosswalk_table} as
        select n.source_system, n.source_record_id, n.record_key, c.golden_customer_id,
               case when c.best < 0 then '{SINGLETON}' else coalesce(r.link_rule, '{SINGLETON}') end as link_rule,
               case when c.best < 0 then null
                    when r.link_rule = 'splink' then round(c.best, 6)
                    else 1.0 end as match_probability,
               ?::date as resolved_on, ?::timestamptz as resolved_at
        from __identity_nodes n
        join __crosswalk_df c on c.idx = n.idx
        left join __identity_rule r on r.record_key = n.record_key
        order by c.golden_customer_id, n.record_key
        """,
        [run_date, resolved_at],
    )
    con.unregister("__crosswalk_df")


def _append_history(con: duckdb.DuckDBPyConnection, history_table: str, history: pd.DataFrame,
                    resolved_at: datetime) -> None:
    con.execute(
        f"""create table if not exists {history_table} (
            event_date date not null, event_type varchar not null, golden_customer_id varchar not null,
            related_golden_customer_id varchar not null, records bigint not null, recorded_at timestamptz not null)"""
    )
    if len(history):
        history = history[HISTORY_COLUMNS].assign(recorded_at=resolved_at)
        con.register("__history_df", history)
        con.execute(f"insert into {history_table} select * from __history_df")
        con.unregister("__history_df")


def resolve(
    con: duckdb.DuckDBPyConnection,
    run_date: date | None = None,
    *,
    records_table: str = RECORDS_TABLE,
    certain_links_table: str | None = CERTAIN_LINKS_TABLE,
    match_pairs_table: str | None = MATCH_PAIRS_TABLE,
    crosswalk_table: str = CROSSWALK_TABLE,
    history_table: str = HISTORY_TABLE,
    guard_config: GuardConfig = GuardConfig(),
    use_guards: bool = True,
) -> ResolveResult:
    started = time.perf_counter()
    run_date = run_date or date.today()
    stats: dict = {}

    _kept_edges(con, records_table, certain_links_table, match_pairs_table, guard_config, use_guards, stats)
    nodes, edges, clustered = _cluster_records(con, records_table, guard_config, stats)
    n = nodes.num_rows
    previous, last_id_number = _previous_ids(con, crosswalk_table, history_table)
    assigned = assign_stable_ids(
        pd.DataFrame({"record_key": nodes["record_key"].to_numpy(zero_copy_only=False), "cluster": clustered.labels}), previous, run_date,
        last_id_number,
    )
    stats.update({f"ids_{k}" if not k.startswith("ids_") else k: v for k, v in assigned.stats.items()})

    crosswalk = assigned.crosswalk
    crosswalk["idx"] = np.arange(n)  # assign_stable_ids keeps the order of its input
    crosswalk["best"] = _strongest_inside_links(clustered.labels, edges, n)
    resolved_at = datetime.now(timezone.utc)
    _write_crosswalk(con, crosswalk_table, crosswalk, run_date, resolved_at)
    _append_history(con, history_table, assigned.history, resolved_at)
    con.execute("drop table if exists __identity_edges; drop table if exists __identity_kept; "
                "drop table if exists __identity_nodes; drop table if exists __identity_rule")
    stats["records"] = n
    stats["resolve_seconds"] = round(time.perf_counter() - started, 2)
    return ResolveResult(stats)
