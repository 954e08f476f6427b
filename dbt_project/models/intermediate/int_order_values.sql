{#- One row per counted order (fct_orders.is_counted) with the money it kept: its value net of VAT and
    the counted refunds and credit notes attributed to it (fct_refunds.is_counted, with an order).

    "An order's value net of refunds" is defined here once; the company KPIs, the customer KPIs,
    the ABC segments and the CLV fit read it from this model. Refunds count whatever their date:
    a return belongs to its order (order-cohort view). Orders of no resolved customer are kept
    (company KPIs count them), with `golden_customer_id` null. -#}

with

counted_orders as (

    select
        order_key,
        golden_customer_id,
        shop_order_id,
        order_date,
        payment_method,
        amount_net,
        amount_gross
    from {{ ref('fct_orders') }}
    where is_counted

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

final as (

    select
        o.*,
        coalesce(r.refunds_count, 0) as refunds_count,
        coalesce(r.refunded_net, 0) as refunded_net,
        coalesce(r.refunded_gross, 0) as refunded_gross,
        o.amount_net - coalesce(r.refunded_net, 0) as net_value_kept,
        o.amount_gross - coalesce(r.refunded_gross, 0) as gross_value_kept
    from counted_orders o
    left join refunds_per_order r using (order_key)

)

select * from final
