{#- Zendesk's CSAT survey responses (the current CSAT, `GET /api/v2/guide/survey_responses`), one row
    per response in its latest version, with its CSAT answer: the answer to the question of sub-type
    `customer_satisfaction` (numeric or emoji scale) gives `rating` and Zendesk's own `rating_category`
    (`good` / `bad`; on a 1-5 scale 4-5 are good). A response has no time of its own: it was created
    when its ULID id says, answered when its CSAT answer was created.
    https://developer.zendesk.com/api-reference/help_center/help-center-api/survey_responses -#}

with

source as (

    select * from {{ source('helpdesk', 'helpdesk_csat_survey_responses') }}
    where {{ not_set_aside('helpdesk_csat_survey_responses') }}

),

answers as (

    select id, answer
    from ({{ json_array_elements('source', 'record', 'answers', 'answer', 'answer_position') }}) as with_answers

),

csat_answers as (

    select id, answer
    from answers
    where {{ json_get('answer', 'question.sub_type') }} = 'customer_satisfaction'
    -- one CSAT question per survey; the newest answer should a response ever hold two
    qualify row_number() over (partition by id order by {{ json_get('answer', 'updated_at') }} desc) = 1

),

comments as (

    select
        id,
        {{ string_agg_ordered(json_get('answer', 'value'), ' ', json_get('answer', 'created_at')) }} as comment
    from answers
    where {{ json_get('answer', 'type') }} = 'open_ended'
    group by id

),

tickets as (

    select
        id,
        min({{ json_get('subject', 'id') }}) as ticket_id_text
    from (
        select id, subject
        from ({{ json_array_elements('source', 'record', 'subjects', 'subject', 'subject_position') }}) as with_subjects
    ) as subjects
    where {{ json_get('subject', 'type') }} = 'ticket'
    group by id

),

renamed as (

    select
        s.id as source_record_id,
        'helpdesk' as source_system,
        s.id as survey_response_id,
        {{ to_id('t.ticket_id_text') }} as ticket_id,
        -- Zendesk gives the responder as a string of the user's numeric id
        {{ to_id(json_get('s.record', 'responder_id')) }} as responder_id,
        {{ json_text('survey.id', 's.record') }} as survey_id,
        try_cast({{ json_get('s.record', 'survey.version') }} as integer) as survey_version,
        {{ json_get('a.answer', 'type') }} as answer_type,
        {{ json_get('a.answer', 'question.type') }} as question_type,
        try_cast({{ json_get('a.answer', 'rating') }} as integer) as rating,
        lower({{ json_get('a.answer', 'rating_category') }}) as rating_category,
        c.comment,
        {{ to_utc_timestamp(json_get('a.answer', 'created_at')) }} as answered_at,
        {{ to_utc_timestamp(json_get('a.answer', 'updated_at')) }} as updated_at,
        {{ to_utc_timestamp(json_get('s.record', 'expires_at')) }} as expires_at,
        s._loaded_at as loaded_at

    from source s
    left join csat_answers a on a.id = s.id
    left join comments c on c.id = s.id
    left join tickets t on t.id = s.id

),

final as (

    select
        *,
        coalesce(rating_category in ('good', 'bad') and answer_type = 'rating_scale', false) as is_received,
        case when answer_type = 'rating_scale' then
            case rating_category when 'good' then true when 'bad' then false end
        end as is_satisfied

    from renamed

)

select * from final
