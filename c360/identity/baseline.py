"""The deterministic baseline: exact keys + connected components, no model and no guards.

Records are linked when they share a certain link (cross-system id, shared order), the same
normalised e-mail, the same phone, or the same folded first name + last name + birthday; clusters
are the connected components. The benchmark (`benchmarks/bench_identity.py`) shows it beside the
full pipeline on the same data: it is what a first attempt would do, and it over-merges households
that share a phone or an e-mail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from c360.identity.schema import CERTAIN_LINKS_TABLE, RECORDS_TABLE

EXACT_KEYS = [
    "email_normalized",
    "phone_e164",
    "first_name_folded || '|' || last_name_folded || '|' || birthday::varchar",
]


def baseline_clusters(con, records_table: str = RECORDS_TABLE, certain_links_table: str | None = CERTAIN_LINKS_TABLE) -> pd.DataFrame:
    """source_system, source_record_id, golden_customer_id (the component's smallest record key)."""
    con.execute(
        f"""create or replace temp table __baseline_nodes as
            select row_number() over (order by record_key) - 1 as idx, record_key, source_system, source_record_id,
                   {', '.join(f'{expr} as k{i}' for i, expr in enumerate(EXACT_KEYS))}
            from {records_table}"""
    )
    # a shared key joins every record to the first record holding it (a star, not all pairs)
    key_edges = " union all ".join(
        f"select idx as l, min(idx) over (partition by k{i}) as r from __baseline_nodes where k{i} is not null"
        for i in range(len(EXACT_KEYS))
    )
    certain = ""
    if certain_links_table:
        certain = f"""union all
            select a.idx, b.idx from {certain_links_table} c
            join __baseline_nodes a on a.record_key = c.record_key_l
            join __baseline_nodes b on b.record_key = c.record_key_r"""
    edges = con.execute(f"select l, r from ({key_edges} {certain}) where l <> r").fetchnumpy()
    nodes = con.execute("select record_key, source_system, source_record_id from __baseline_nodes order by idx").df()
    n = len(nodes)
    graph = coo_matrix((np.ones(len(edges["l"]), np.int8), (edges["l"], edges["r"])), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    con.execute("drop table __baseline_nodes")
    first_key = nodes.groupby(labels)["record_key"].transform("min")
    return pd.DataFrame({
        "source_system": nodes["source_system"],
        "source_record_id": nodes["source_record_id"],
        "golden_customer_id": "B:" + first_key,
    })
