{#- Row-level quarantine in staging. A record that passed landing (it has an id and a change marker)
    may still not be typable: an id of -900001 or 2^63, an order dated in the year 1 or 2099. Such a
    record is set aside with its reason instead of becoming a NULL that fails a not_null test and
    stops every run (one bad record kept good new customers out of the golden table until the
    source was fixed). Staging models read only the records without a reason; the view
    incremental table `stg_record_checks` keeps the verdict on every landed record (checked once,
    when it lands), `stg_set_aside_records` lists those set aside, and the quality gate
    `staging_set_aside` stops the run only when a table's share of them passes
    `C360_SET_ASIDE_MAX_SHARE`.

    The rules, per raw table: which ids must be positive 64-bit integers, and which business date
    must lie in the plausible window [var plausible_date_min, as-of date + var plausible_days_ahead]. -#}
{% macro set_aside_rules() -%}
    {{ return({
        'shop_customers': [bad_id_reason()],
        'shop_orders': [bad_id_reason(), implausible_date_reason('createdAt'), implausible_date_reason('created_at')],
        'shop_checkouts': [bad_id_reason(), implausible_date_reason('createdAt'), implausible_date_reason('created_at')],
        'erp_partners': [bad_id_reason()],
        'erp_sale_orders': [bad_id_reason(), implausible_date_reason('date_order', erp=true)],
        'erp_sale_order_lines': [bad_id_reason()],
        'erp_products': [bad_id_reason()],
        'erp_credit_notes': [bad_id_reason()],
        'erp_credit_note_lines': [bad_id_reason()],
        'helpdesk_users': [bad_id_reason()],
        'helpdesk_tickets': [bad_id_reason(), implausible_date_reason('created_at')],
        'helpdesk_satisfaction_ratings': [bad_id_reason(), implausible_date_reason('created_at')],
        'helpdesk_csat_survey_responses': [],
        'nps_responses': [implausible_date_reason('responded_at')],
        'accounting_contacts': [],
        'accounting_vouchers': [implausible_date_reason('voucherDate')],
        'accounting_payments': [implausible_date_reason('paidDate')],
    }) }}
{%- endmacro %}

{#- Why the raw record (column `record`) of `raw_table` is set aside, or null when it is not. -#}
{% macro set_aside_reason(raw_table) -%}
    coalesce({% for rule in set_aside_rules()[raw_table] %}{{ rule }}, {% endfor %}cast(null as {{ type_text() }}))
{%- endmacro %}

{#- The record's id is not a positive 64-bit integer (macro to_id gives null). Read from the raw
    table's `id` column, the id as the landing wrote it, which costs no JSON parsing. -#}
{% macro bad_id_reason() -%}
    case when {{ to_id('id') }} is null then 'id ' || left(id, 40) || ' is not an id (a positive 64-bit integer)' end
{%- endmacro %}

{#- The date-time at `path` is given but unreadable or outside the plausible window (a missing one
    is left to the model's tests). `erp`: Odoo's naive UTC `YYYY-MM-DD HH:MM:SS`, else ISO 8601. -#}
{% macro implausible_date_reason(path, erp=false) -%}
    {%- set text = "nullif(trim(" ~ json_get('record', path) ~ "), '')" -%}
    {%- set instant = erp_utc_timestamp(text) if erp else to_utc_timestamp(text) -%}
    case
        when {{ text }} is null or {{ text }} = 'false' then null
        when {{ instant }} is null then '{{ path }} ' || left({{ text }}, 40) || ' is not a date-time'
        when not {{ is_plausible_date(instant ~ '::date') }}
            then '{{ path }} ' || left({{ text }}, 40) || ' lies outside the plausible dates '
                 || {{ plausible_date_min() }} || ' .. ' || {{ plausible_date_max() }}
    end
{%- endmacro %}

{#- Business dates the pipeline believes: from var plausible_date_min (default 2000-01-01) to the
    as-of date (kpi_as_of: $C360_AS_OF, else today) plus var plausible_days_ahead (default 1). -#}
{% macro plausible_date_min() -%}
    date '{{ var("plausible_date_min") }}'
{%- endmacro %}

{% macro plausible_date_max() -%}
    ({{ kpi_as_of() }} + {{ var("plausible_days_ahead") }})
{%- endmacro %}

{% macro is_plausible_date(expr) -%}
    ({{ expr }} between {{ plausible_date_min() }} and {{ plausible_date_max() }})
{%- endmacro %}

{#- A timestamp attribute (not the record's business date): null when outside the plausible window,
    so that a customer "created" in the year 1 does not get a tenure of 739,950 days. -#}
{% macro plausible_timestamp(expr) -%}
    case when {{ is_plausible_date('(' ~ expr ~ ')::date') }} then {{ expr }} end
{%- endmacro %}

{#- Filter of a staging model's raw input: the records not set aside. -#}
{% macro not_set_aside(raw_table) -%}
    {{ set_aside_reason(raw_table) }} is null
{%- endmacro %}

{#- The raw records an incremental staging model reads: those landed since its last build, and
    those whose change marker lies beyond it. A future-dated record is set aside until its date is
    plausible and is not landed again meanwhile (it has not changed), so it is re-read until then. -#}
{% macro raw_records_to_restage() -%}
    {%- set built_through = stored_max('loaded_at') %}
    (_loaded_at > {{ built_through }} or _source_updated_at > {{ built_through }})
{%- endmacro %}

{#- Pre-hook of an incremental staging model kept by delete+insert on `key`: removes the stored
    rows of records read again that are set aside now (they bring no row to replace the stored one). -#}
{% macro delete_rows_now_set_aside(raw_table, key='source_record_id') -%}
    {%- if is_incremental_on('loaded_at') -%}
    delete from {{ this }}
    where {{ key }} in (
        select id from {{ source(raw_table.split('_')[0], raw_table) }}
        where {{ raw_records_to_restage() }} and not ({{ not_set_aside(raw_table) }})
    )
    {%- endif -%}
{%- endmacro %}
