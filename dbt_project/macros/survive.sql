{#- Survivorship of one golden field (identity resolution, models/marts/golden_customers.sql):
    the value of the first system in `trust` that has one (`present_expr`), and within a system
    the most recently updated record; live records before soft-deleted ones. An aggregate over
    the records of one golden customer. -#}
{% macro survive(value_expr, present_expr, trust) -%}
    {%- set trust_rank -%}
        case source_system
            {%- for system in trust %} when '{{ system }}' then {{ loop.index }}{% endfor %}
            else 99 end
    {%- endset -%}
    {{ first_ordered(value_expr, ['is_deleted', trust_rank, 'updated_at desc nulls last', 'record_key'],
                     "(" ~ present_expr ~ ") and source_system in ('" ~ trust | join("', '") ~ "')") }}
{%- endmacro %}
