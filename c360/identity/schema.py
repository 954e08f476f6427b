"""Names of the warehouse tables that identity resolution reads and writes (one place to change them)."""

# dbt models (dbt_project/models/identity/), read by the Python steps
RECORDS_TABLE = "intermediate.int_customer_records"
CERTAIN_LINKS_TABLE = "intermediate.int_identity_certain_links"

# written by the Dagster assets in orchestration/assets/identity.py, declared to dbt as sources
MATCH_PAIRS_TABLE = "intermediate.identity_match_pairs"
CROSSWALK_TABLE = "marts.golden_customer_sources"
HISTORY_TABLE = "marts.golden_customer_id_history"

# the stored matching model and the state of the last matching run (c360.identity.match_run)
MODEL_TABLE = "intermediate.identity_model"
MODEL_TERM_FREQUENCIES_TABLE = "intermediate.identity_model_term_frequencies"
MATCH_RUNS_TABLE = "intermediate.identity_match_runs"
