{#- One row per counted order (fct_orders.is_counted) with its economics: what it was worth before
    returns, what it kept after them, what it cost and what it contributed. Money net of VAT, the
    VAT-inclusive amount beside it where the sources give one; costs are net.

    Every figure of an order's value and margin is defined here once; the company KPIs, the customer
    KPIs, the segments and the CLV fit read them from this model and compute no revenue or margin of
    their own.

    - order_value: the goods after discounts, before returns, without shipping (the basis of the AOV,
      Durchschnittlicher Bestellwert); amount = order_value + shipping_charged is what was invoiced.
    - net_value_kept = amount - counted refunds and credit notes of the order (fct_refunds.is_counted):
      the revenue the order kept, shipping charged included. Refunds count whatever their date: a
      return belongs to its order (order-cohort view).
    - cost_of_goods: kept product units x ERP standard_price; the shipping product (VERSAND) is no
      goods: its standard_price is the carrier's price per parcel, which shipping_cost stands for.
    - shipping_cost, payment_fee, return_handling_cost: assumptions, dbt vars (int_order_values.yml
      gives the defaults and why).
    - contribution_margin_1 = net_value_kept - cost_of_goods; contribution_margin_2 = CM I -
      shipping_cost - payment_fee - return_handling_cost.

    Orders of no resolved customer are kept (company KPIs count them), with `golden_customer_id` null. -#}

{%- set payment_fees = var('payment_fees') %}
{%- set shipping_cost_per_order = var('shipping_cost_per_order') %}
{%- set return_handling_cost = var('return_handling_cost_per_return') %}

with

counted_orders as (

    select
        order_key,
        golden_customer_id,
        shop_order_id,
        erp_sale_order_id,
        order_date,
        channel,
        payment_method,
        amount_net,
        amount_gross,
        shipping_gross as shop_shipping_gross,
        discounts_gross as shop_discounts_gross
    from {{ ref('fct_orders') }}
    where is_counted

),

-- the order's lines: cost of the goods kept, units returned, and the ERP's shipping line
line_facts as (

    select
        l.order_key,
        coalesce(sum(l.cost_of_goods) filter (where not l.is_shipping), 0) as cost_of_goods,
        coalesce(sum(l.quantity_returned) filter (where not l.is_shipping), 0) as units_returned,
        sum(l.line_net) filter (where l.is_shipping) as erp_shipping_net,
        sum(l.line_gross) filter (where l.is_shipping) as erp_shipping_gross
    from {{ ref('fct_order_lines') }} l
    where l.is_counted
    group by l.order_key

),

-- discounts of orders the shop never saw: the ERP lines' discount percentage on their gross price
erp_discounts as (

    select
        sale_order_id,
        sum(quantity_ordered * price_unit * coalesce(discount_percent, 0) / 100) as discounts_gross
    from {{ ref('stg_erp__sale_order_lines') }}
    group by sale_order_id

),

refunds_per_order as (

    select
        order_key,
        count(*) as refunds_count,
        sum(amount_net) as refunded_net,
        sum(amount_gross) as refunded_gross
    from {{ ref('fct_refunds') }}
    where is_counted and order_key is not null
    group by order_key

),

shipping as (

    select
        o.*,
        coalesce(l.cost_of_goods, 0) as cost_of_goods,
        coalesce(l.units_returned, 0) as units_returned,
        coalesce(o.shop_shipping_gross, l.erp_shipping_gross, 0) as shipping_charged_gross,
        -- the ERP books the shipping line net; a shop order without an ERP side prorates its shipping
        -- by the order's net/gross ratio (German VAT: shipping follows the rates of the goods it carries)
        coalesce(l.erp_shipping_net,
                 {{ prorate_money('o.shop_shipping_gross', 'o.amount_net', 'o.amount_gross') }},
                 0) as shipping_charged_net,
        coalesce(o.shop_discounts_gross, d.discounts_gross, 0) as discounts_gross
    from counted_orders o
    left join line_facts l using (order_key)
    left join erp_discounts d on d.sale_order_id = o.erp_sale_order_id and o.shop_order_id is null

),

valued as (

    select
        s.*,
        cast(s.amount_net - s.shipping_charged_net as decimal(18, 2)) as order_value_net,
        cast(s.amount_gross - s.shipping_charged_gross as decimal(18, 2)) as order_value_gross,
        coalesce(r.refunds_count, 0) as refunds_count,
        coalesce(r.refunded_net, 0) as refunded_net,
        coalesce(r.refunded_gross, 0) as refunded_gross
    from shipping s
    left join refunds_per_order r using (order_key)

),

costed as (

    select
        *,
        -- discounts net at the goods' own VAT share (order_value net/gross)
        {{ prorate_money('discounts_gross', 'order_value_net', 'order_value_gross') }} as discounts_net,
        amount_net - refunded_net as net_value_kept,
        amount_gross - refunded_gross as gross_value_kept,
        units_returned > 0 as is_returned,
        -- a store sale is carried home: no parcel
        cast(case when channel = 'store' then 0 else {{ shipping_cost_per_order }} end as decimal(18, 2)) as shipping_cost,
        -- providers charge on the amount paid (gross); the fee is VAT-exempt, so it is a net cost
        cast(round(case payment_method
            {%- for method, fee in payment_fees.items() if method != 'other' %}
            when '{{ method }}' then amount_gross * {{ fee['rate'] }} + {{ fee['fixed'] }}
            {%- endfor %}
            else amount_gross * {{ payment_fees['other']['rate'] }} + {{ payment_fees['other']['fixed'] }}
        end, 2) as decimal(18, 2)) as payment_fee,
        cast(case when units_returned > 0 then {{ return_handling_cost }} else 0 end as decimal(18, 2)) as return_handling_cost
    from valued

),

final as (

    select
        order_key,
        golden_customer_id,
        shop_order_id,
        order_date,
        channel,
        payment_method,
        amount_net,
        amount_gross,
        order_value_net,
        order_value_gross,
        discounts_net,
        cast(discounts_gross as decimal(18, 2)) as discounts_gross,
        cast(shipping_charged_net as decimal(18, 2)) as shipping_charged_net,
        cast(shipping_charged_gross as decimal(18, 2)) as shipping_charged_gross,
        refunds_count,
        refunded_net,
        refunded_gross,
        net_value_kept,
        gross_value_kept,
        units_returned,
        is_returned,
        cast(cost_of_goods as decimal(18, 2)) as cost_of_goods,
        shipping_cost,
        payment_fee,
        return_handling_cost,
        cast(net_value_kept - cost_of_goods as decimal(18, 2)) as contribution_margin_1,
        cast(net_value_kept - cost_of_goods - shipping_cost - payment_fee - return_handling_cost as decimal(18, 2))
            as contribution_margin_2
    from costed

)

select * from final
