{#- Abandoned shop checkouts (never completed), tied to the golden customer of their shop customer.
    A checkout without a customer id is kept unresolved (its e-mail alone is no person key). -#}

with

crosswalk as (

    select source_system, source_record_id, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

checkouts as (

    select * from {{ ref('stg_shop__checkouts') }}

),

final as (

    select
        c.checkout_id,
        g.golden_customer_id,
        case
            when g.golden_customer_id is not null then null
            when c.customer_id is null then 'no_customer_reference'
            else 'customer_record_not_in_crosswalk'
        end as unresolved_reason,
        c.customer_id as shop_customer_id,
        c.created_at,
        {{ local_date('c.created_at') }} as checkout_date,
        c.completed_at,
        c.is_abandoned,
        c.total_price as amount_gross,
        c.line_items_count

    from checkouts c
    {{ golden_of('g', 'shop', 'c.customer_id') }}

)

select * from final
