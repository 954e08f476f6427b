{#- Per raw table: how many landed records staging set aside, their share, and a few examples
    (system, table, id and reason). The quality gate `staging_set_aside` reads this: it stops the
    run only when a table's share passes C360_SET_ASIDE_MAX_SHARE. -#}

with

counts as (

    select source_table, count(*) as landed_records, count(reason) as set_aside_records
    from {{ ref('stg_record_checks') }}
    group by source_table

),

examples as (

    select
        source_table,
        {{ string_agg_ordered("source_system || '/' || source_table || ' id ' || source_record_id || ': ' || reason",
                              '; ', 'source_record_id') }} as examples
    from (
        select * from {{ ref('stg_set_aside_records') }}
        qualify row_number() over (partition by source_table order by source_record_id) <= 3
    )
    group by source_table

),

final as (

    select
        counts.source_table,
        counts.landed_records,
        counts.set_aside_records,
        counts.set_aside_records / counts.landed_records as set_aside_share,
        examples.examples
    from counts
    left join examples using (source_table)

)

select * from final
