{#- The landed records that staging set aside, one row each with its reason (macros/set_aside.sql).
    A view: it always shows what the raw tables hold now, so a record fixed at the source and
    landed again leaves it by itself. -#}

with

{% for raw_table in set_aside_rules() | sort %}
{{ raw_table }} as (

    select
        '{{ raw_table.split('_')[0] }}' as source_system,
        '{{ raw_table }}' as source_table,
        id as source_record_id,
        {{ set_aside_reason(raw_table) }} as reason,
        _loaded_at as loaded_at
    from {{ source(raw_table.split('_')[0], raw_table) }}

),

{% endfor %}
checked as (

    {% for raw_table in set_aside_rules() | sort %}
    select * from {{ raw_table }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from checked
where reason is not null
