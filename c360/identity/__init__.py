"""Identity resolution: which source records belong to the same real person (or company).

Where identities are resolved, step by step:

1. dbt `int_customer_records` (dbt_project/models/identity/): every customer-type record of the four
   systems in one schema, normalised (folded names, e-mail, E.164 phone, street, postcode, birthday).
2. dbt `int_identity_certain_links`: pairs that are certain (cross-system ids, shared orders), each
   with the rule that produced it.
3. `c360.identity.matching` (Dagster asset `intermediate/identity_match_pairs`): Splink 5 on the same DuckDB finds the
   probable pairs that exact keys miss (typos, transliterations, moves, changed names, no e-mail).
   `c360.identity.match_run` keeps the trained model in the warehouse and, between retrains, scores only
   the pairs of records new or changed since the last run.
4. `c360.identity.guards`: vetoes (conflicting first names or birthdays) and caps (one phone, address or
   e-mail may not join more than a few people) so that households stay apart.
5. `c360.identity.clustering`: connected components over the surviving edges, with a cluster-size cap
   and a conflict-aware split of components that would join incompatible records.
6. `c360.identity.stable_ids` (Dagster asset `marts/golden_customer_sources`): a stable
   `golden_customer_id` per cluster against the previous crosswalk, merges and splits recorded in
   `marts.golden_customer_id_history`.
7. dbt `golden_customers` (dbt_project/models/marts/): survivorship of every golden field.

`c360.identity.evaluate` measures the crosswalk against a truth file; `c360.identity.baseline` is the
deterministic comparison point (exact keys + connected components) used by the benchmark.
This package has no Dagster imports: the assets in `orchestration/assets/identity.py` call it.
"""
