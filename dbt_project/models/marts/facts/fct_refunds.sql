{#- Money given back, one row per source record: shop refunds, ERP returns (the units an ERP order's
    posted customer credit notes credit, int_erp_order_line_returns) and accounting credit notes. One return usually appears in all three systems, so per
    order exactly one row `is_counted` (ERP return, else shop refund, else credit note); a credit
    note naming no known order counts on its own. Net amounts: ERP returns from the lines' net
    prices; shop refunds and credit notes prorated by the order's net/gross ratio (credit notes
    without an order at 19 % VAT).

    The customer is the order's, or for a credit note booked on a contact, the contact's. -#}

with

crosswalk as (

    select source_system, source_record_id, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

orders as (

    select order_key, golden_customer_id, shop_order_id, shop_order_number, erp_sale_order_id, erp_order_name,
           amount_net, amount_gross, is_counted
    from {{ ref('fct_orders') }}

),

shop_refunds as (

    select
        'shop_refund:' || r.refund_key as refund_key,
        'shop_refund' as refund_source,
        r.refund_key as source_record_id,
        o.order_key,
        r.created_at as refunded_at,
        cast(r.refunded_quantity as decimal(18, 3)) as quantity,
        r.refunded_amount as amount_gross,
        {{ prorate_money('r.refunded_amount', 'o.amount_net', 'o.amount_gross') }} as amount_net,
        cast(null as {{ type_text() }}) as contact_id,
        false as is_voided,
        2 as priority
    from {{ ref('stg_shop__refunds') }} r
    left join orders o on o.shop_order_id = r.order_id

),

erp_returns as (

    select
        'erp_return:' || l.order_key as refund_key,
        'erp_return' as refund_source,
        cast(any_value(o.erp_sale_order_id) as {{ type_text() }}) as source_record_id,
        l.order_key,
        max(r.returned_at) as refunded_at,
        sum(l.quantity_returned) as quantity,
        sum(l.returned_gross) as amount_gross,
        sum(l.returned_net) as amount_net,
        cast(null as {{ type_text() }}) as contact_id,
        false as is_voided,
        1 as priority
    from {{ ref('fct_order_lines') }} l
    join orders o on o.order_key = l.order_key
    join {{ ref('int_erp_order_line_returns') }} r on 'erp:' || r.sale_order_line_id = l.order_line_key
    where l.line_source = 'erp' and l.quantity_returned > 0
    group by l.order_key

),

credit_notes as (

    select
        'credit_note:' || v.voucher_id as refund_key,
        'credit_note' as refund_source,
        v.voucher_id as source_record_id,
        coalesce(oe.order_key, os.order_key) as order_key,
        v.voucher_date as refunded_at,
        cast(null as decimal(18, 3)) as quantity,
        v.total_amount as amount_gross,
        -- without an order: 19 % VAT
        {{ prorate_money('v.total_amount', 'coalesce(oe.amount_net, os.amount_net, 100)',
                         'coalesce(oe.amount_gross, os.amount_gross, 119)') }} as amount_net,
        case when not v.is_collective_contact then v.contact_id end as contact_id,
        v.is_voided,
        3 as priority
    from {{ ref('stg_accounting__vouchers') }} v
    left join orders oe on oe.erp_order_name = v.erp_order_name
    left join orders os on os.shop_order_number = v.shop_order_number and v.erp_order_name is null
    where v.is_credit_note

),

all_refunds as (

    select * from erp_returns
    union all
    select * from shop_refunds
    union all
    select * from credit_notes

),

ranked as (

    select
        *,
        case
            when is_voided then false
            when order_key is null then true
            else row_number() over (
                partition by order_key, is_voided order by priority, refunded_at, refund_key
            ) = 1
        end as is_counted
    from all_refunds

),

final as (

    select
        r.refund_key,
        coalesce(o.golden_customer_id, gc.golden_customer_id) as golden_customer_id,
        case
            when o.golden_customer_id is not null then 'order'
            when gc.golden_customer_id is not null then 'accounting_contact'
        end as customer_link,
        case
            when o.golden_customer_id is not null or gc.golden_customer_id is not null then null
            when r.order_key is null and r.contact_id is null then 'no_order_or_contact_reference'
            when r.order_key is null then 'contact_not_in_crosswalk'
            else 'order_unresolved'
        end as unresolved_reason,
        r.refund_source,
        r.source_record_id,
        r.order_key,
        coalesce(o.is_counted, true) as is_order_counted,
        r.refunded_at,
        {{ local_date('r.refunded_at') }} as refund_date,
        r.quantity,
        r.amount_gross,
        r.amount_net,
        r.is_voided,
        r.is_counted

    from ranked r
    left join orders o on o.order_key = r.order_key
    {{ golden_of('gc', 'accounting', 'r.contact_id') }}

)

select * from final
