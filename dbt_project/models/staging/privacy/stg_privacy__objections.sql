{#- One row per objection to direct marketing (or its withdrawal) and source record of the person, as
    entered with `c360 privacy object` (raw.privacy_objections, c360/consent.py). The raw table is created
    by the first request; before that this model holds no rows, so that a warehouse without any request
    builds. -#}

{#- Not a dbt source: no pipeline step writes the table (the CLI does), so the code location has no
    asset for it to depend on. -#}
{%- set recorded = adapter.get_relation(database=target.database, schema='raw',
                                        identifier='privacy_objections') if execute else none -%}

with

source as (

    {% if recorded -%}
    select * from {{ recorded }}
    {%- else -%}
    -- no request recorded yet: the table's columns, no rows
    select
        cast(null as {{ type_text() }}) as id,
        cast(null as {{ type_text() }}) as request_id,
        cast(null as {{ type_text() }}) as action,
        cast(null as {{ type_text() }}) as purpose,
        cast(null as {{ type_text() }}) as record_key,
        cast(null as {{ type_text() }}) as source_system,
        cast(null as {{ type_text() }}) as source_record_id,
        cast(null as {{ type_text() }}) as golden_customer_id,
        cast(null as {{ type_instant() }}) as requested_at,
        cast(null as {{ type_instant() }}) as recorded_at,
        cast(null as {{ type_text() }}) as source,
        cast(null as {{ type_text() }}) as reason
    where false
    {%- endif %}

),

renamed as (

    select
        id as objection_record_id,
        request_id,
        action,
        purpose,
        record_key,
        source_system,
        source_record_id,
        golden_customer_id as golden_customer_id_at_request,
        requested_at,
        recorded_at,
        source as request_source,
        reason
    from source

)

select * from renamed
