{#- Facts that could not be tied to a golden customer, counted per fact table and reason: they stay
    in their fact table (golden_customer_id null) and are visible here, never dropped. -#}

{%- set facts = ['fct_orders', 'fct_order_lines', 'fct_refunds', 'fct_checkouts', 'fct_invoices',
                 'fct_payments', 'fct_tickets', 'fct_survey_responses'] %}
{%- set unresolved_reason = "case when golden_customer_id is null then unresolved_reason end" %}

with

{% for fact in facts %}
{{ fact }}_counts as (

    select
        '{{ fact }}' as fact_table,
        count(*) as total_rows,
        count(*) filter (where golden_customer_id is null) as unresolved_rows,
        coalesce({{ distinct_texts_joined(unresolved_reason, ', ') }}, '') as unresolved_reasons
    from {{ ref(fact) }}

),
{% endfor %}

unioned as (

    {% for fact in facts %}
    select * from {{ fact }}_counts
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        fact_table,
        total_rows,
        unresolved_rows,
        round({{ safe_ratio('unresolved_rows', 'total_rows') }} * 100, 2) as unresolved_pct,
        unresolved_reasons
    from unioned

)

select * from final
