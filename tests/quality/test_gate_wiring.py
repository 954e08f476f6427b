"""The gates sit between steps: the segments are a dbt step of their own that waits for the blocking
great_expectations checks on what it reads (cheap: no run, only the execution plan)."""

from __future__ import annotations

import dagster as dg


def test_segments_step_waits_for_the_gates():
    from dagster._core.execution.api import create_execution_plan  # the plan Dagster runs

    from orchestration.assets.dbt_models import c360_dbt_models, c360_dbt_segments
    from orchestration.definitions import build_definitions

    assert all(key.path[0] == "segments" for key in c360_dbt_segments.keys)
    assert not any(key.path[0] == "segments" for key in c360_dbt_models.keys)

    defs = build_definitions()
    checks = {k for k in defs.resolve_asset_graph().asset_check_keys if k.name.startswith("gx_")}
    assert all(defs.resolve_asset_graph().get(k).blocking for k in checks)
    plan = create_execution_plan(defs.resolve_implicit_global_asset_job_def())
    step = plan.get_step_by_key("c360_dbt_segments")
    upstream = {h.step_key for i in step.step_inputs for h in i.get_step_output_handle_dependencies()}
    for gate in ("marts__golden_customers_gx_golden_customers", "marts__customer_kpis_gx_kpi_customer_ranges",
                 "marts__customer_kpis_gx_kpi_customer_revenue_reconciles"):
        assert gate in upstream, upstream
    # a raw gate stops staging: the dbt step reading the landed shop customers waits for their gate
    # (Dagster numbers the dbt steps in no fixed order; a step reading no landed table, such as the
    # objections the CLI writes, may come first)
    def upstream_of(step) -> set[str]:
        return {h.step_key for i in step.step_inputs for h in i.get_step_output_handle_dependencies()}

    staging = [step for step in plan.get_steps_to_execute_in_topo_order()
               if step.key.startswith("c360_dbt_models") and "raw__shop_customers" in upstream_of(step)]
    assert staging, "no dbt step reads the landed shop customers"
    assert all("raw__shop_customers_gx_raw_shop_customers" in upstream_of(step) for step in staging)
    assert {dg.AssetKey(["raw", "shop_customers"])} <= {k.asset_key for k in checks}


def test_identity_waits_for_the_staging_set_aside_gate():
    """Records set aside in staging stop the run only through this gate, before identity resolution."""
    from dagster._core.execution.api import create_execution_plan

    from orchestration.definitions import build_definitions

    defs = build_definitions()
    plan = create_execution_plan(defs.resolve_implicit_global_asset_job_def())
    matching = plan.get_step_by_key("intermediate__identity_match_pairs")
    upstream = {h.step_key for i in matching.step_inputs for h in i.get_step_output_handle_dependencies()}
    assert "intermediate__int_customer_records_gx_staging_set_aside" in upstream
