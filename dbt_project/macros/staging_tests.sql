{#- Staging tests follow the day's changes: once every staging test has passed in a build, later
    builds test only the staging rows landed after that build started (`loaded_at`). A changed record
    is landed again, so it is tested again; rows that failed keep being tested until a build passes.
    A staging model without `loaded_at`, and any build of a new warehouse, tests every row; so does
    every build on Spark, whose staging models are tables rebuilt in full.

    What this gives up: a `unique` test compares the new rows with each other, not with the rows
    tested before (raw landing keeps one row per source id, which is what those tests mostly guard).
    `dbt build --vars '{staging_tests: all}'` tests every row. -#}

{% macro staging_tests_state() -%}
    {{ return(api.Relation.create(database=target.database, schema='staging', identifier='_tests_passed')) }}
{%- endmacro %}

{#- dbt's hook for the `where` of generic tests (this override is the documented way to change it):
    adds the `loaded_at` bound to tests on staging models. -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- if config.get('where') -%}
        {%- do conditions.append('(' ~ config.get('where') ~ ')') -%}
    {%- endif -%}
    {%- set tested_through = staging_tested_through(relation) -%}
    {%- if tested_through -%}
        {%- do conditions.append("loaded_at > '" ~ tested_through ~ "'::timestamptz") -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- When the staging tests last all passed, as text; none where every row is to be tested. -#}
{% macro staging_tested_through(relation) -%}
    {%- if not execute or var('staging_tests', 'changed') == 'all' or target.type != 'duckdb' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if (relation.schema or '') | lower != 'staging' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set state = staging_tests_state() -%}
    {%- if adapter.get_relation(database=state.database, schema=state.schema, identifier=state.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- if 'loaded_at' not in columns -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set passed = run_query('select max(build_started_at)::varchar from ' ~ state).columns[0].values()[0] -%}
    {{ return(passed) }}
{%- endmacro %}

{#- on-run-end: when this build ran every staging test and all passed, records the build's start. -#}
{% macro record_staging_tests(results) -%}
    {%- if not execute or target.type != 'duckdb' -%}
        {{ return('') }}
    {%- endif -%}
    {%- set staging_tests = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'test' and (node.attached_node or '').startswith('model.c360.stg_') -%}
            {%- do staging_tests.append(node.unique_id) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set ran, passed = [], [] -%}
    {%- for result in results -%}
        {%- if result.node.unique_id in staging_tests -%}
            {%- do ran.append(result.node.unique_id) -%}
            {%- if result.status in ('pass', 'warn') -%}
                {%- do passed.append(result.node.unique_id) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if staging_tests and ran | length == staging_tests | length and passed | length == ran | length -%}
        {%- set state = staging_tests_state() -%}
        {%- do run_query('create schema if not exists ' ~ state.schema) -%}
        {%- do run_query('create table if not exists ' ~ state ~ ' (build_started_at timestamptz not null, tests bigint not null)') -%}
        {%- do run_query("insert into " ~ state ~ " values ('" ~ run_started_at.isoformat() ~ "'::timestamptz, " ~ ran | length ~ ")") -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
