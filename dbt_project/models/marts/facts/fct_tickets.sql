{#- Helpdesk tickets (calls are tickets via `voice`), tied to the golden customer of the requester.

    Incremental: a daily run parses only the tickets landed since the last build (`loaded_at`) and
    re-links the stored ones to today's crosswalk; only rows that differ from the stored ones are
    written (delete+insert on ticket_id). A full refresh gives the same table. -#}

{{ config(materialized='incremental', unique_key='ticket_id') }}

{%- set incremental = is_incremental_on('loaded_at') %}

with

crosswalk as (

    select source_system, source_record_id, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

tickets as (

    select
        ticket_id,
        requester_id,
        channel,
        status,
        is_deleted,
        subject,
        is_return_related,
        order_number,
        erp_order_name,
        created_at,
        solved_at,
        satisfaction_score,
        coalesce(solved_at, updated_at) as rated_at,
        loaded_at
    from {{ ref('stg_helpdesk__tickets') }}
    {% if incremental %}
    where {{ landed_since_last_build() }}
    {% endif %}

),

{% if incremental %}
-- the stored tickets, as they came from staging, so that a merge or split re-links them
stored_tickets as (

    select
        ticket_id,
        helpdesk_user_id as requester_id,
        channel,
        status,
        is_deleted,
        subject,
        is_return_related,
        shop_order_number as order_number,
        erp_order_name,
        created_at,
        solved_at,
        satisfaction_rating as satisfaction_score,
        rated_at,
        loaded_at
    from {{ this }}
    where ticket_id not in (select ticket_id from tickets)

),

tickets_to_link as (

    select * from tickets
    union all
    select * from stored_tickets

),
{% else %}
tickets_to_link as (

    select * from tickets

),
{% endif %}

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
        t.rated_at,
        {{ local_date('t.rated_at') }} as rated_date,
        t.loaded_at

    from tickets_to_link t
    {{ golden_of('g', 'helpdesk', 't.requester_id') }}

)

select * from final
{% if incremental %}
{{ except_stored_rows() }}
{% endif %}
