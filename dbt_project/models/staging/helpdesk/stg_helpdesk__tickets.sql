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
            when {{ json_kind('record', 'via') }} = 'OBJECT' then {{ json_text('via.channel') }}
            when {{ json_kind('record', 'via') }} is not null and {{ json_kind('record', 'via') }} <> 'NULL' then 'unknown'
        end as channel,
        {{ json_text('status') }} as status,
        {{ json_text('satisfaction_rating.score') }} as satisfaction_score,
        {{ json_string_list('record', 'tags') }} as tags,
        -- the order field (360001) is free text typed by an agent; other custom fields as a fallback
        {%- set custom_fields = json_list('record', 'custom_fields') %}
        {%- set order_field = list_first(list_where(custom_fields, 'field', json_get('field', 'id') ~ " = '360001'")) %}
        coalesce(
            nullif(trim({{ json_get('(' ~ order_field ~ ')', 'value') }}), ''),
            nullif(trim({{ list_join(list_map(custom_fields, 'field', json_get('field', 'value')), ' | ') }}), '')
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
        coalesce({{ list_has('tags', "'retoure'") }}, false) as is_return_related,
        status = 'deleted' as is_deleted

    from renamed

)

select * from final
