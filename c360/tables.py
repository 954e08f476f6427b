"""The warehouse tables the pipeline's Python steps read and write, declared once.

Names are `<schema>.<table>`; the Dagster asset key of a table is its name split at the dot
(`orchestration.keys.asset_key`), so `marts.golden_customer_sources` is the asset
`marts/golden_customer_sources`. The dbt models are keyed the same way by their own project.
"""

from __future__ import annotations

# dbt models the Python steps read
CUSTOMER_RECORDS = "intermediate.int_customer_records"
IDENTITY_CERTAIN_LINKS = "intermediate.int_identity_certain_links"
ORDER_VALUES = "intermediate.int_order_values"

# written by the Python steps (each one an asset), declared to dbt as sources where dbt reads them
IDENTITY_MATCH_PAIRS = "intermediate.identity_match_pairs"
GOLDEN_CUSTOMER_SOURCES = "marts.golden_customer_sources"
GOLDEN_CUSTOMER_ID_HISTORY = "marts.golden_customer_id_history"
# pairs in the review band side by side, for a data steward (c360.identity.review)
IDENTITY_REVIEW_QUEUE = "marts.identity_review_queue"
CLV_PREDICTIONS = "marts.customer_clv_predictions"
# the published copy for BI tools (c360.bi_publish): not a warehouse table, but keyed like one
BI_SNAPSHOT = "serving.bi_snapshot"

# state the Python steps keep between runs (no assets: outside `marts`, never published)
IDENTITY_MODEL = "intermediate.identity_model"
IDENTITY_MODEL_TERM_FREQUENCIES = "intermediate.identity_model_term_frequencies"
IDENTITY_MATCH_RUNS = "intermediate.identity_match_runs"
IDENTITY_RESOLVED_RECORDS = "intermediate.identity_resolved_records"
IDENTITY_RESOLVED_LINKS = "intermediate.identity_resolved_links"
IDENTITY_RESOLUTION_STATE = "intermediate.identity_resolution_state"
# scored pairs below the match threshold but in the review band (c360.identity.match_run)
IDENTITY_REVIEW_PAIRS = "intermediate.identity_review_pairs"
# a data steward's decisions on pairs: kept across full rebuilds, never dropped by the pipeline
IDENTITY_LABELS = "intermediate.identity_labels"
CLV_MODEL_FITS = "intermediate.clv_model_fits"
# the audit trail of erasures (c360.erasure), written by requests and by the daily retention step
PRIVACY_ERASURES = "raw._erasures"
