{#- One row per golden customer with any objection to direct marketing on record: whether one is in force.

    Requests are kept per source record (stg_privacy__objections) and mapped through today's crosswalk, so
    an objection follows the person's records through merges and splits of golden ids. Per record the
    latest request (by the day it was made, then by when it was entered) counts; a golden customer objects
    when the latest request of any of its records is an objection: a record that joins them later, without
    requests of its own, does not lift it. -#}

with

requests as (

    select * from {{ ref('stg_privacy__objections') }}
    where purpose = 'direct_marketing'

),

crosswalk as (

    select record_key, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

latest_per_record as (

    select record_key, action, requested_at
    from requests
    qualify row_number() over (partition by record_key order by requested_at desc, recorded_at desc) = 1

),

per_customer as (

    select
        c.golden_customer_id,
        bool_or(l.action = 'object') as has_marketing_objection,
        max(l.requested_at) filter (where l.action = 'object') as objection_requested_at,
        max(l.requested_at) as last_request_at
    from latest_per_record l
    join crosswalk c using (record_key)
    group by c.golden_customer_id

)

select * from per_customer
