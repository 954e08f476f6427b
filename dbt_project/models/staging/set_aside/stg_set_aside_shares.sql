{#- Per raw table: how many landed records staging set aside, their share, and a few examples
    (system, table, id and reason). The quality gate `staging_set_aside` reads this: it stops the
    run only when a table's share passes C360_SET_ASIDE_MAX_SHARE. -#}

with

landed as (

    {% for raw_table in set_aside_rules() | sort %}
    select '{{ raw_table }}' as source_table, count(*) as landed_records
    from {{ source(raw_table.split('_')[0], raw_table) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

set_aside as (

    select
        source_table,
        count(*) as set_aside_records,
        string_agg(source_system || '/' || source_table || ' id ' || source_record_id || ': ' || reason, '; '
                   order by source_record_id) filter (where example_rank <= 3) as examples
    from (
        select *, row_number() over (partition by source_table order by source_record_id) as example_rank
        from {{ ref('stg_set_aside_records') }}
    )
    group by source_table

),

final as (

    select
        landed.source_table,
        landed.landed_records,
        coalesce(set_aside.set_aside_records, 0) as set_aside_records,
        coalesce({{ safe_ratio('set_aside.set_aside_records', 'landed.landed_records') }}, 0) as set_aside_share,
        set_aside.examples
    from landed
    left join set_aside using (source_table)

)

select * from final
