with

source as (

    select * from {{ source('helpdesk', 'helpdesk_survey_responses') }}
    where {{ not_set_aside('helpdesk_survey_responses') }}

),

renamed as (

    select
        id as source_record_id,
        'helpdesk' as source_system,
        {{ to_id("record->>'$.id'") }} as survey_response_id,
        {{ json_text('type') }} as survey_type,
        try_cast(record->>'$.score' as integer) as score,
        {{ to_id("record->>'$.ticket_id'") }} as ticket_id,
        {{ to_id("record->>'$.user_id'") }} as user_id,
        {{ json_text('comment') }} as comment,
        {{ to_utc_timestamp("record->>'$.created_at'") }} as created_at,
        {{ to_utc_timestamp("record->>'$.updated_at'") }} as updated_at,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        case
            when survey_type = 'csat' then score between 1 and 5
            when survey_type = 'nps' then score between 0 and 10
            else false
        end as is_score_in_range

    from renamed

)

select * from final
