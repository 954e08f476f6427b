{#- CSAT answers and NPS responses (0-10). CSAT comes from the helpdesk in either of Zendesk's two
    forms (an account has one active): the legacy satisfaction ratings (good or bad, no number) and
    the CSAT survey responses (a numeric rating, `score`, with Zendesk's good / bad category). An
    answer is tied to the golden customer of its requester (a helpdesk user); offered, unoffered and
    skipped ones are no answer and are left out. A rating counts on the date it was given (the
    legacy rating's `created_at`, the CSAT answer's `created_at`); a later change (good -> bad)
    changes its value, not its date.

    NPS answers come from the survey tool's exports (stg_nps__responses), which know the respondent
    by e-mail and sometimes by shop customer id: the customer is the golden customer of that shop
    customer, else the one golden customer holding a record (of any system) with the normalised
    e-mail. An e-mail found in the records of several golden customers (a shared family address) ties
    the answer to none of them: it stays unresolved rather than count for the wrong person. -#}

with

crosswalk as (

    select source_system, source_record_id, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

email_owners as (

    select
        r.email_normalized,
        min(g.golden_customer_id) as golden_customer_id,
        count(distinct g.golden_customer_id) as golden_customers
    from {{ ref('int_customer_records') }} r
    join crosswalk g on g.source_system = r.source_system and g.source_record_id = r.source_record_id
    where r.email_normalized is not null
    group by r.email_normalized

),

helpdesk_csat as (

    -- the two forms of Zendesk's CSAT: legacy ratings (no number) and survey responses (a rating)
    select
        cast(satisfaction_rating_id as {{ type_text() }}) as survey_response_id,
        requester_id as helpdesk_user_id,
        ticket_id,
        cast(null as integer) as score,
        score as satisfaction_rating,
        created_at
    from {{ ref('stg_helpdesk__satisfaction_ratings') }}
    where is_received
    union all
    select
        survey_response_id,
        responder_id as helpdesk_user_id,
        ticket_id,
        rating as score,
        rating_category as satisfaction_rating,
        answered_at as created_at
    from {{ ref('stg_helpdesk__csat_survey_responses') }}
    where is_received

),

ratings as (

    select
        r.survey_response_id,
        g.golden_customer_id,
        case
            when g.golden_customer_id is not null then null
            when r.helpdesk_user_id is null then 'no_user'
            else 'user_not_in_crosswalk'
        end as unresolved_reason,
        r.helpdesk_user_id,
        cast(null as bigint) as shop_customer_id,
        cast(null as {{ type_text() }}) as respondent_email,
        r.ticket_id,
        'csat' as survey_type,
        r.score,
        r.satisfaction_rating,
        true as is_score_in_range,
        r.created_at
    from helpdesk_csat r
    {{ golden_of('g', 'helpdesk', 'r.helpdesk_user_id') }}

),

nps as (

    select
        n.survey_response_id,
        coalesce(g.golden_customer_id, case when e.golden_customers = 1 then e.golden_customer_id end)
            as golden_customer_id,
        case
            when g.golden_customer_id is not null or e.golden_customers = 1 then null
            when e.golden_customers > 1 then 'email_of_several_customers'
            when n.email_normalized is not null then 'email_not_found'
            when n.shop_customer_id is not null then 'customer_reference_not_in_crosswalk'
            else 'no_email'
        end as unresolved_reason,
        cast(null as bigint) as helpdesk_user_id,
        n.shop_customer_id,
        n.email_normalized as respondent_email,
        cast(null as bigint) as ticket_id,
        'nps' as survey_type,
        n.score,
        cast(null as {{ type_text() }}) as satisfaction_rating,
        n.is_score_in_range,
        n.responded_at as created_at
    from {{ ref('stg_nps__responses') }} n
    {{ golden_of('g', 'shop', 'n.shop_customer_id') }}
    left join email_owners e on e.email_normalized = n.email_normalized

),

responses as (

    select * from ratings
    union all
    select * from nps

),

final as (

    select
        r.survey_response_id,
        r.golden_customer_id,
        r.unresolved_reason,
        r.helpdesk_user_id,
        r.shop_customer_id,
        r.respondent_email,
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

)

select * from final
