{{ config(
    materialized='incremental',
    unique_key='source_record_id',
    pre_hook="{{ delete_rows_now_set_aside('helpdesk_tickets') }}"
) }}

with

source as (

    select * from {{ source('helpdesk', 'helpdesk_tickets') }}
    where {{ not_set_aside('helpdesk_tickets') }}
    {% if is_incremental_on('loaded_at') %}
    and {{ raw_records_to_restage() }}
    {% endif %}

),

renamed as (

    select
        id as source_record_id,
        'helpdesk' as source_system,
        {{ to_id(json_get('record', 'id')) }} as ticket_id,
        {{ to_id(json_get('record', 'requester_id')) }} as requester_id,
        {{ json_text('subject') }} as subject,
        -- `via` is an object; anything else (an array was seen) gives no channel to read: 'unknown',
        -- so that the ticket still counts, under a channel that says so
        case
            when json_type(record, '$.via') = 'OBJECT' then {{ json_text('via.channel') }}
            when json_type(record, '$.via') is not null and json_type(record, '$.via') <> 'NULL' then 'unknown'
        end as channel,
        {{ json_text('status') }} as status,
        {{ json_text('satisfaction_rating.score') }} as satisfaction_score,
        cast(json_extract_string(record, '$.tags[*]') as varchar[]) as tags,
        -- the order field (360001) is free text typed by an agent; other custom fields as a fallback
        coalesce(
            nullif(trim(list_filter(
                cast(record->'$.custom_fields' as json[]),
                lambda field: ({{ json_get('field', 'id') }}) = '360001'
            )[1]->>'$.value'), ''),
            nullif(trim(array_to_string(
                list_filter(json_extract_string(record, '$.custom_fields[*].value'), lambda v: v is not null),
                ' | '
            )), '')
        ) as order_reference_text,
        {{ to_utc_timestamp(json_get('record', 'created_at')) }} as created_at,
        {{ to_utc_timestamp(json_get('record', 'updated_at')) }} as updated_at,
        {{ to_utc_timestamp(json_get('record', 'solved_at')) }} as solved_at,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        {{ shop_order_number_from_text('order_reference_text') }} as order_number,
        {{ erp_order_name_from_text('order_reference_text') }} as erp_order_name,
        coalesce(list_contains(tags, 'retoure'), false) as is_return_related,
        status = 'deleted' as is_deleted

    from renamed

)

select * from final
