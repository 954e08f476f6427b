{#- CSAT answers (the helpdesk's received satisfaction ratings, good or bad) and NPS responses (0-10),
    tied to the golden customer of the responding helpdesk user. Offered and unoffered ratings are no
    answer and are left out. A rating counts on the date it was created (Zendesk's `created_at`); a
    later change (good -> bad) changes its value, not its date. Out-of-range NPS scores are kept and
    flagged (`is_score_in_range`). -#}

with

crosswalk as (

    select source_system, source_record_id, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

responses as (

    select
        satisfaction_rating_id as survey_response_id,
        requester_id as user_id,
        ticket_id,
        'csat' as survey_type,
        null::integer as score,
        score as satisfaction_rating,
        true as is_score_in_range,
        created_at
    from {{ ref('stg_helpdesk__satisfaction_ratings') }}
    where is_received

    union all

    select
        survey_response_id,
        user_id,
        ticket_id,
        survey_type,
        score,
        null::varchar as satisfaction_rating,
        is_score_in_range,
        created_at
    from {{ ref('stg_helpdesk__survey_responses') }}
    where survey_type = 'nps'

),

final as (

    select
        r.survey_response_id,
        g.golden_customer_id,
        case
            when g.golden_customer_id is not null then null
            when r.user_id is null then 'no_user'
            else 'user_not_in_crosswalk'
        end as unresolved_reason,
        r.user_id as helpdesk_user_id,
        r.ticket_id,
        r.survey_type,
        r.score,
        r.satisfaction_rating,
        r.is_score_in_range,
        case when r.survey_type = 'nps' and r.is_score_in_range then
            case when r.score >= 9 then 'promoter' when r.score >= 7 then 'passive' else 'detractor' end
        end as nps_category,
        case when r.survey_type = 'csat' then r.satisfaction_rating = 'good' end as is_csat_satisfied,
        r.created_at as responded_at,
        {{ local_date('r.created_at') }} as response_date

    from responses r
    {{ golden_of('g', 'helpdesk', 'r.user_id') }}

)

select * from final
