{#- Zendesk's satisfaction ratings (legacy CSAT), one row per rating in its latest version. `offered`
    (survey sent, no answer yet) and `unoffered` are no answer; `good` is satisfied, `bad` unsatisfied.
    https://developer.zendesk.com/api-reference/ticketing/ticket-management/satisfaction_ratings/ -#}

with

source as (

    select * from {{ source('helpdesk', 'helpdesk_satisfaction_ratings') }}
    where {{ not_set_aside('helpdesk_satisfaction_ratings') }}

),

renamed as (

    select
        id as source_record_id,
        'helpdesk' as source_system,
        {{ to_id(json_get('record', 'id')) }} as satisfaction_rating_id,
        {{ to_id(json_get('record', 'ticket_id')) }} as ticket_id,
        {{ to_id(json_get('record', 'requester_id')) }} as requester_id,
        {{ to_id(json_get('record', 'assignee_id')) }} as assignee_id,
        {{ to_id(json_get('record', 'group_id')) }} as group_id,
        {{ json_text('score') }} as score,
        {{ json_text('comment') }} as comment,
        {{ json_text('reason') }} as reason,
        {{ to_utc_timestamp(json_get('record', 'created_at')) }} as created_at,
        {{ to_utc_timestamp(json_get('record', 'updated_at')) }} as updated_at,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        score in ('good', 'bad') as is_received,
        case score when 'good' then true when 'bad' then false end as is_satisfied

    from renamed

)

select * from final
