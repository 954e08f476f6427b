{#- CSAT (1-5) and NPS (0-10) survey responses, tied to the golden customer of the responding
    helpdesk user. Out-of-range scores are kept and flagged (`is_score_in_range`). -#}

with

crosswalk as (

    select source_system, source_record_id, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

responses as (

    select * from {{ ref('stg_helpdesk__survey_responses') }}

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
        r.is_score_in_range,
        case when r.survey_type = 'nps' and r.is_score_in_range then
            case when r.score >= 9 then 'promoter' when r.score >= 7 then 'passive' else 'detractor' end
        end as nps_category,
        case when r.survey_type = 'csat' and r.is_score_in_range then r.score >= 4 end as is_csat_satisfied,
        r.created_at as responded_at,
        {{ local_date('r.created_at') }} as response_date

    from responses r
    {{ golden_of('g', 'helpdesk', 'r.user_id') }}

)

select * from final
