"""Names of the warehouse tables that identity resolution reads and writes (declared in `c360.tables`)."""

from c360 import tables

# dbt models (dbt_project/models/identity/), read by the Python steps
RECORDS_TABLE = tables.CUSTOMER_RECORDS
CERTAIN_LINKS_TABLE = tables.IDENTITY_CERTAIN_LINKS

# written by the Dagster assets in orchestration/assets/identity.py, declared to dbt as sources
MATCH_PAIRS_TABLE = tables.IDENTITY_MATCH_PAIRS
CROSSWALK_TABLE = tables.GOLDEN_CUSTOMER_SOURCES
HISTORY_TABLE = tables.GOLDEN_CUSTOMER_ID_HISTORY

# the stored matching model and the state of the last matching run (c360.identity.match_run)
MODEL_TABLE = tables.IDENTITY_MODEL
MODEL_TERM_FREQUENCIES_TABLE = tables.IDENTITY_MODEL_TERM_FREQUENCIES
MATCH_RUNS_TABLE = tables.IDENTITY_MATCH_RUNS

# what the last resolution saw (c360.identity.resolve): the guards' view of every record, every link
# with its veto, and the settings they were made with; a daily run re-resolves only what changed
RESOLVED_RECORDS_TABLE = tables.IDENTITY_RESOLVED_RECORDS
RESOLVED_LINKS_TABLE = tables.IDENTITY_RESOLVED_LINKS
RESOLUTION_STATE_TABLE = tables.IDENTITY_RESOLUTION_STATE

# the data steward's review loop (c360.identity.review): the pairs of the review band, the queue built
# from them, and the steward's labels (read by the resolution as links)
REVIEW_PAIRS_TABLE = tables.IDENTITY_REVIEW_PAIRS
REVIEW_QUEUE_TABLE = tables.IDENTITY_REVIEW_QUEUE
LABELS_TABLE = tables.IDENTITY_LABELS
