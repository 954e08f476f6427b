{#- Helpdesk tickets (calls are tickets via `voice`), tied to the golden customer of the requester. -#}

with

crosswalk as (

    select source_system, source_record_id, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

tickets as (

    select * from {{ ref('stg_helpdesk__tickets') }}

),

final as (

    select
        t.ticket_id,
        g.golden_customer_id,
        case
            when g.golden_customer_id is not null then null
            when t.requester_id is null then 'no_requester'
            else 'requester_not_in_crosswalk'
        end as unresolved_reason,
        t.requester_id as helpdesk_user_id,
        t.channel,
        t.status,
        t.is_deleted,
        t.subject,
        t.is_return_related,
        t.order_number as shop_order_number,
        t.erp_order_name,
        t.created_at,
        {{ local_date('t.created_at') }} as created_date,
        t.solved_at,
        t.satisfaction_score as satisfaction_rating,
        coalesce(t.solved_at, t.updated_at) as rated_at,
        {{ local_date('coalesce(t.solved_at, t.updated_at)') }} as rated_date

    from tickets t
    {{ golden_of('g', 'helpdesk', 't.requester_id') }}

)

select * from final
