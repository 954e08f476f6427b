{#- One row per marketing consent event of a golden customer, oldest first within each customer: the shop's
    e-mail marketing consent of each of their shop records (the state the shop holds, dated by the shop's
    consent update; the shop keeps no earlier states), and every objection to direct marketing and its
    withdrawal recorded with `c360 privacy object` (once per request, however many records it names).

    `state_after` says where the event leaves the channel: the shop's state for a consent row, `objected`
    or `withdrawn` for a request. Whether the customer may be marketed to today is
    segments.customer_segments.email_marketing_allowed. -#}

with

crosswalk as (

    select record_key, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

shop_consent as (

    select
        x.golden_customer_id,
        c.email_marketing_consent_updated_at as event_at,
        'shop_email_marketing_consent' as event,
        'email_marketing' as purpose,
        c.email_marketing_consent_state as state_after,
        c.email_marketing_opt_in_level as opt_in_level,
        'shop' as source_system,
        x.record_key,
        cast(null as {{ type_text() }}) as request_id,
        cast(null as {{ type_text() }}) as request_source,
        cast(null as {{ type_text() }}) as reason,
        c.loaded_at as recorded_at
    from {{ ref('stg_shop__customers') }} c
    join crosswalk x on x.record_key = 'shop:' || c.source_record_id
    where c.email_marketing_consent_state is not null

),

requests as (

    select
        x.golden_customer_id,
        min(o.requested_at) as event_at,
        case min(o.action) when 'object' then 'marketing_objection' else 'marketing_objection_withdrawn' end as event,
        min(o.purpose) as purpose,
        case min(o.action) when 'object' then 'objected' else 'withdrawn' end as state_after,
        cast(null as {{ type_text() }}) as opt_in_level,
        'privacy_request' as source_system,
        cast(null as {{ type_text() }}) as record_key,
        o.request_id,
        min(o.request_source) as request_source,
        min(o.reason) as reason,
        min(o.recorded_at) as recorded_at
    from {{ ref('stg_privacy__objections') }} o
    join crosswalk x using (record_key)
    group by x.golden_customer_id, o.request_id

),

events as (

    select * from shop_consent
    union all
    select * from requests

)

select
    golden_customer_id,
    event_at,
    {{ local_day('event_at', 'Europe/Berlin') }} as event_date,
    event,
    purpose,
    state_after,
    opt_in_level,
    source_system,
    record_key,
    request_id,
    request_source,
    reason,
    recorded_at
from events
