{#- The verdict of the set-aside rules (macros/set_aside.sql) on every landed record: null, or why
    staging sets it aside. Incremental: a record is checked when it lands (and re-checked while its
    change marker lies ahead, as a future date becomes plausible in time), so a daily run reads only
    the day's records; a view over all raw JSON cost 15 s per run at 100k persons. -#}

{{ config(materialized='incremental', unique_key=['source_table', 'source_record_id']) }}

{%- set incremental = is_incremental_on('loaded_at') %}

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
    {% if incremental %}
    where _loaded_at > (select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }}
                        where source_table = '{{ raw_table }}')
       or _source_updated_at > (select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }}
                                where source_table = '{{ raw_table }}')
    {% endif %}

),

{% endfor %}
checked as (

    {% for raw_table in set_aside_rules() | sort %}
    select * from {{ raw_table }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from checked
