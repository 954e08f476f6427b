{#- One row per line of a real order (fct_orders). Orders with an ERP side take the ERP lines (they
    carry delivered quantities and the net price; returned units are those of the posted customer
    credit notes, int_erp_order_line_returns); a shop order without an ERP mirror
    takes its shop lines (delivered = ordered unless cancelled; returned = refunded quantity; net
    prorated by the order's net/gross ratio). Unit cost is the ERP product's `standard_price`
    (net); the shipping line (product VERSAND) is flagged `is_shipping` and has no cost of goods. -#}

with

orders as (

    select order_key, golden_customer_id, unresolved_reason, shop_order_id, erp_sale_order_id, ordered_at,
           order_date, amount_net, amount_gross, is_cancelled, is_counted
    from {{ ref('fct_orders') }}

),

products as (

    select product_id, sku, unit_cost_net
    from {{ ref('stg_erp__products') }}

),

erp_lines as (

    select
        'erp:' || l.sale_order_line_id as order_line_key,
        o.order_key,
        'erp' as line_source,
        l.product_id,
        coalesce(l.sku, p.sku) as sku,
        l.quantity_ordered,
        l.quantity_delivered,
        cast(coalesce(r.quantity_returned, 0) as decimal(18, 3)) as quantity_returned,
        l.price_unit as unit_price_gross,
        cast(l.quantity_ordered * l.price_unit as decimal(18, 2)) as line_gross,
        l.price_subtotal_net as line_net,
        p.unit_cost_net
    from {{ ref('stg_erp__sale_order_lines') }} l
    join orders o on o.erp_sale_order_id = l.sale_order_id
    left join {{ ref('int_erp_order_line_returns') }} r on r.sale_order_line_id = l.sale_order_line_id
    left join products p on p.product_id = l.product_id

),

shop_refunded as (

    select order_id, line_item_id, sum(quantity) as quantity_refunded
    from {{ ref('stg_shop__refund_lines') }}
    group by order_id, line_item_id

),

shop_lines as (

    select
        'shop:' || l.order_line_key as order_line_key,
        o.order_key,
        'shop' as line_source,
        p.product_id,
        l.sku,
        cast(l.quantity as decimal(18, 3)) as quantity_ordered,
        cast(case when o.is_cancelled then 0 else l.quantity end as decimal(18, 3)) as quantity_delivered,
        cast(coalesce(r.quantity_refunded, 0) as decimal(18, 3)) as quantity_returned,
        l.price as unit_price_gross,
        l.line_total as line_gross,
        {{ prorate_money('l.line_total', 'o.amount_net', 'o.amount_gross') }} as line_net,
        p.unit_cost_net
    from {{ ref('stg_shop__order_lines') }} l
    join orders o on o.shop_order_id = l.order_id and o.erp_sale_order_id is null
    left join shop_refunded r on r.order_id = l.order_id and r.line_item_id = l.line_item_id
    left join products p on p.sku = l.sku

),

lines as (

    select * from erp_lines
    union all
    select * from shop_lines

),

final as (

    select
        l.order_line_key,
        l.order_key,
        o.golden_customer_id,
        o.unresolved_reason,
        l.line_source,
        o.ordered_at,
        o.order_date,
        o.is_counted,
        l.product_id,
        l.sku,
        coalesce(l.sku = 'VERSAND', false) as is_shipping,
        l.quantity_ordered,
        l.quantity_delivered,
        l.quantity_returned,
        l.unit_price_gross,
        l.line_gross,
        l.line_net,
        cast(round(l.quantity_returned * l.unit_price_gross, 2) as decimal(18, 2)) as returned_gross,
        {{ prorate_money('l.line_net', 'l.quantity_returned', 'l.quantity_ordered') }} as returned_net,
        {{ prorate_money('l.line_net', 'l.quantity_delivered', 'l.quantity_ordered') }} as delivered_net,
        l.unit_cost_net,
        -- goods that stay with the customer cost their unit cost; returned units go back to stock. The
        -- shipping product is no goods: its standard_price is the carrier's price per parcel, counted
        -- as the order's shipping_cost (int_order_values)
        case when coalesce(l.sku = 'VERSAND', false) then cast(0 as decimal(18, 2))
             else cast(round((l.quantity_ordered - l.quantity_returned) * l.unit_cost_net, 2) as decimal(18, 2))
        end as cost_of_goods

    from lines l
    join orders o on o.order_key = l.order_key

)

select * from final
