{#- One row per real order across channels. A webshop order is mirrored into the ERP (a sale order
    whose `client_order_ref` names the shop order): the pair is ONE order here, keyed by the shop
    order. Mirrors whose reference is missing are paired by the same gross total placed within
    minutes after the shop order. Phone and store orders exist only in the ERP.

    `is_counted`: not a test order, not deleted in the shop, not cancelled / voided, not an ERP quotation (draft). The order
    belongs to the golden customer of its shop customer, else of its ERP partner; an order tied to
    neither is kept with `golden_customer_id` null and an `unresolved_reason`. -#}

with

crosswalk as (

    select source_system, source_record_id, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

shop_orders as (

    select * from {{ ref('stg_shop__orders') }}

),

erp_orders as (

    select * from {{ ref('stg_erp__sale_orders') }}

),

-- 1. the ERP order names the shop order in client_order_ref
ref_matches as (

    select
        e.sale_order_id,
        s.order_id as shop_order_id,
        'client_order_ref' as mirror_match_rule
    from erp_orders e
    join shop_orders s on s.order_number = e.shop_order_number
    where not s.is_test
    qualify row_number() over (partition by s.order_id order by e.sale_order_id) = 1

),

-- 2. a webshop ERP order without a usable reference: same gross total, placed shortly after the shop order
unmatched_erp as (

    select e.*
    from erp_orders e
    where e.sales_channel = 'webshop'
      and e.sale_order_id not in (select sale_order_id from ref_matches)

),

unmatched_shop as (

    select s.*
    from shop_orders s
    where not s.is_test
      and s.order_id not in (select shop_order_id from ref_matches)

),

fallback_candidates as (

    select
        e.sale_order_id,
        s.order_id as shop_order_id,
        abs({{ epoch_seconds("e.ordered_at") }} - {{ epoch_seconds("s.created_at") }}) as seconds_apart
    from unmatched_erp e
    join unmatched_shop s
        on s.total_price = e.amount_total
       and e.ordered_at between s.created_at - interval 5 minute and s.created_at + interval 60 minute

),

fallback_matches as (

    select sale_order_id, shop_order_id, 'amount_and_time' as mirror_match_rule
    from fallback_candidates
    qualify row_number() over (partition by sale_order_id order by seconds_apart, shop_order_id) = 1
        and row_number() over (partition by shop_order_id order by seconds_apart, sale_order_id) = 1

),

mirror_matches as (

    select * from ref_matches
    union all
    select * from fallback_matches

),

-- payment method of ERP-only orders: the method of the last payment of their invoice
erp_payment_methods as (

    select
        v.erp_order_name,
        {{ value_of_greatest("p.payment_method", ["p.paid_at", "p.payment_id"]) }} as payment_method
    from {{ ref('stg_accounting__vouchers') }} v
    join {{ ref('stg_accounting__payments') }} p on p.voucher_id = v.voucher_id
    where v.voucher_type in ('salesinvoice', 'invoice') and v.erp_order_name is not null and p.is_payment
    group by v.erp_order_name

),

order_pairs as (

    select
        'shop:' || s.order_id as order_key,
        s.order_id as shop_order_id,
        m.sale_order_id as erp_sale_order_id,
        m.mirror_match_rule
    from shop_orders s
    left join mirror_matches m on m.shop_order_id = s.order_id

    union all

    select
        'erp:' || e.sale_order_id as order_key,
        null as shop_order_id,
        e.sale_order_id as erp_sale_order_id,
        null as mirror_match_rule
    from erp_orders e
    where e.sale_order_id not in (select sale_order_id from mirror_matches)

),

joined as (

    select
        p.order_key,
        p.shop_order_id,
        s.order_number as shop_order_number,
        p.erp_sale_order_id,
        e.order_name as erp_order_name,
        p.mirror_match_rule,
        case
            when s.order_id is not null and e.sale_order_id is not null then 'shop+erp'
            when s.order_id is not null then 'shop'
            else 'erp'
        end as source_systems,
        case when s.order_id is not null then 'webshop' else e.sales_channel end as channel,
        coalesce(s.created_at, e.ordered_at) as ordered_at,
        coalesce(s.currency, 'EUR') as currency,

        ----------  money: the shop's figures for shop orders, the ERP's for the others
        coalesce(s.total_price, e.amount_total) as amount_gross,
        coalesce(s.total_tax, e.amount_tax) as amount_tax,
        coalesce(s.total_price_net, e.amount_untaxed) as amount_net,
        s.shipping_price as shipping_gross,
        s.total_discounts as discounts_gross,

        ----------  payment
        coalesce(s.payment_gateway, pm.payment_method, 'unknown') as payment_method,
        s.financial_status,
        e.state as erp_state,

        ----------  flags
        coalesce(s.is_test, false) as is_test,
        coalesce(s.is_deleted, false) as is_deleted,
        coalesce(s.is_cancelled, false) or coalesce(s.financial_status = 'voided', false)
            or coalesce(e.is_cancelled, false) as is_cancelled,
        s.order_id is null and coalesce(e.state = 'draft', false) as is_quotation,

        ----------  customer
        s.customer_id as shop_customer_id,
        e.partner_id as erp_partner_id,
        gs.golden_customer_id as shop_golden_customer_id,
        ge.golden_customer_id as erp_golden_customer_id

    from order_pairs p
    left join shop_orders s on s.order_id = p.shop_order_id
    left join erp_orders e on e.sale_order_id = p.erp_sale_order_id
    left join erp_payment_methods pm on pm.erp_order_name = e.order_name and s.order_id is null
    {{ golden_of('gs', 'shop', 's.customer_id') }}
    {{ golden_of('ge', 'erp', 'e.partner_id') }}

),

final as (

    select
        order_key,
        coalesce(shop_golden_customer_id, erp_golden_customer_id) as golden_customer_id,
        case
            when shop_golden_customer_id is not null then 'shop_customer'
            when erp_golden_customer_id is not null then 'erp_partner'
        end as customer_link,
        case
            when shop_golden_customer_id is not null or erp_golden_customer_id is not null then null
            when shop_customer_id is null and erp_partner_id is null then 'no_customer_reference'
            else 'customer_record_not_in_crosswalk'
        end as unresolved_reason,
        shop_order_id,
        shop_order_number,
        erp_sale_order_id,
        erp_order_name,
        mirror_match_rule,
        source_systems,
        channel,
        ordered_at,
        {{ local_date('ordered_at') }} as order_date,
        currency,
        amount_gross,
        amount_tax,
        amount_net,
        shipping_gross,
        discounts_gross,
        payment_method,
        payment_method = 'invoice' as is_invoice_payment,
        financial_status,
        erp_state,
        is_test,
        is_deleted,
        is_cancelled,
        is_quotation,
        not is_test and not is_deleted and not is_cancelled and not is_quotation as is_counted,
        shop_customer_id,
        erp_partner_id

    from joined

)

select * from final
