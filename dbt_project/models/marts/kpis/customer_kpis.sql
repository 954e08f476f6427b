{#- One row per golden customer: every customer KPI of DOMAIN.md as of `kpi_as_of()`.

    Counted orders only (no test, cancelled/voided or quotation orders; a shop order mirrored in
    the ERP is one order). Money is net of VAT unless named `_gross`; refunds and credit notes are
    subtracted once per return (fct_refunds.is_counted). Every order figure (value, discounts,
    shipping, refunds, net value kept, costs, contribution margins I and II) is the order's own in
    int_order_values, summed here.

    AOV = order value before returns / orders; net_value_per_order = net value kept / orders.
    Margin CLV = contribution margin II - credit notes without an order - `cost_per_ticket` per
    ticket; a contact without orders has none (null, `has_orders` false): service cost alone does
    not make a buyer unprofitable. -#}

{%- set as_of = kpi_as_of() %}
{%- set cost_per_ticket = var('cost_per_ticket', 4.00) %}
{%- set channels = ['voice', 'email', 'chat', 'web'] %}
{#- the payment methods where the customer pays after the invoice (a column each: the contract names them) #}
{%- set pay_later_methods = ['invoice', 'sepa_debit', 'klarna_pay_later'] %}

with

customers as (

    select golden_customer_id, birthday, has_email_marketing_consent, email_marketing_consent_state
    from {{ ref('golden_customers') }}

),

orders as (

    select
        *,
        order_date > {{ as_of }} - interval 24 month as is_last_24_months
    from {{ ref('int_order_values') }}
    where golden_customer_id is not null and order_date <= {{ as_of }}

),

order_facts as (

    select
        golden_customer_id,
        count(*) as orders_count,
        sum(amount_net) as orders_net,
        sum(amount_gross) as orders_gross,
        sum(refunded_net) as refunds_on_orders_net,
        sum(refunded_gross) as refunds_on_orders_gross,
        cast(sum(refunds_count) as bigint) as returns_count,
        sum(order_value_net) as order_value_net,
        sum(order_value_gross) as order_value_gross,
        sum(discounts_net) as discounts_net,
        sum(shipping_charged_net) as shipping_charged_net,
        sum(net_value_kept) as net_value_kept,
        sum(cost_of_goods) as cost_of_goods,
        sum(shipping_cost) as shipping_cost,
        sum(payment_fee) as payment_fees,
        sum(return_handling_cost) as return_handling_cost,
        sum(contribution_margin_1) as contribution_margin_1,
        sum(contribution_margin_2) as contribution_margin_2,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) filter (where is_last_24_months) as orders_count_24m,
        coalesce(sum(net_value_kept) filter (where is_last_24_months), 0) as net_revenue_24m,
        {%- for method in var('payment_methods') %}
        {{ safe_ratio("count(*) filter (where payment_method = '" ~ method ~ "')", 'count(*)') }} as payment_share_{{ method }},
        {%- endfor %}
        {{ safe_ratio("count(*) filter (where payment_method not in ('" ~ var('payment_methods') | join("', '") ~ "'))", 'count(*)') }}
            as payment_share_other
    from orders
    group by golden_customer_id

),

-- credit notes without an order: money back that no order explains
loose_refunds as (

    select golden_customer_id, sum(amount_net) as refunded_net, sum(amount_gross) as refunded_gross
    from {{ ref('fct_refunds') }}
    where is_counted and order_key is null and golden_customer_id is not null and refund_date <= {{ as_of }}
    group by golden_customer_id

),

line_facts as (

    select
        l.golden_customer_id,
        sum(l.quantity_delivered) filter (where not l.is_shipping) as units_delivered,
        sum(l.quantity_returned) filter (where not l.is_shipping) as units_returned,
        sum(l.delivered_net) filter (where not l.is_shipping) as delivered_net,
        sum(l.returned_net) filter (where not l.is_shipping) as returned_net
    from {{ ref('fct_order_lines') }} l
    join orders o on o.order_key = l.order_key
    group by l.golden_customer_id

),

invoice_facts as (

    select
        golden_customer_id,
        count(*) as invoices_count,
        median(days_to_pay) as median_days_to_pay,
        {{ safe_ratio('count(*) filter (where is_late)', 'count(*) filter (where is_late is not null)') }} as late_payment_share,
        coalesce(max(dunning_level) filter (where voucher_status in ('open', 'overdue')), 0) as current_dunning_level,
        coalesce(sum(open_amount) filter (where voucher_status in ('open', 'overdue')), 0) as open_receivables,
        count(*) filter (where is_overdue) as overdue_invoices_count
    from {{ ref('fct_invoices') }}
    where golden_customer_id is not null and not is_voided and invoice_date <= {{ as_of }}
    group by golden_customer_id

),

-- days to pay per payment method of the invoiced order, for the methods where the customer pays later
invoice_method_facts as (

    select
        i.golden_customer_id
        {%- for method in pay_later_methods %},
        median(i.days_to_pay) filter (where o.payment_method = '{{ method }}') as median_days_to_pay_{{ method }}
        {%- endfor %}
    from {{ ref('fct_invoices') }} i
    join orders o on o.order_key = i.order_key
    where i.golden_customer_id is not null and not i.is_voided and i.invoice_date <= {{ as_of }}
    group by i.golden_customer_id

),

-- cart abandonment as the company KPI counts it: abandoned checkouts against every real shop order
checkout_facts as (

    select golden_customer_id, count(*) as abandoned_checkouts
    from {{ ref('fct_checkouts') }}
    where golden_customer_id is not null and is_abandoned and checkout_date <= {{ as_of }}
    group by golden_customer_id

),

shop_order_facts as (

    select golden_customer_id, count(*) as shop_orders
    from {{ ref('fct_orders') }}
    where golden_customer_id is not null and shop_order_id is not null and not is_test and order_date <= {{ as_of }}
    group by golden_customer_id

),

tickets as (

    select * from {{ ref('fct_tickets') }}
    where golden_customer_id is not null and not is_deleted and created_date <= {{ as_of }}

),

ticket_facts as (

    select
        golden_customer_id,
        count(*) as tickets_count,
        {%- for channel in channels %}
        count(*) filter (where channel = '{{ channel }}') as tickets_{{ channel }},
        {%- endfor %}
        max(created_date) as last_ticket_date
    from tickets
    group by golden_customer_id

),

-- the most used channel of the last 12 months (all time when none); ties: the most recently used
preferred_channels as (

    select
        golden_customer_id,
        {{ value_of_greatest('channel', ['recent_tickets', 'tickets', 'last_used', 'channel']) }} as preferred_channel
    from (
        select
            golden_customer_id,
            channel,
            count(*) filter (where created_date > {{ as_of }} - interval 12 month) as recent_tickets,
            count(*) as tickets,
            max(created_at) as last_used
        from tickets
        where channel is not null
        group by golden_customer_id, channel
    )
    group by golden_customer_id

),

survey_facts as (

    select
        golden_customer_id,
        {{ value_of_greatest('satisfaction_rating', ['responded_at', 'survey_response_id']) }}
            filter (where survey_type = 'csat') as last_csat_rating,
        max(response_date) filter (where survey_type = 'csat') as last_csat_date,
        {{ value_of_greatest('score', ['responded_at', 'survey_response_id']) }}
            filter (where survey_type = 'nps') as last_nps_score,
        max(response_date) filter (where survey_type = 'nps') as last_nps_date
    from {{ ref('fct_survey_responses') }}
    where golden_customer_id is not null and is_score_in_range and response_date <= {{ as_of }}
    group by golden_customer_id

),

predictions as (

    select golden_customer_id, p_alive, expected_purchases, expected_order_value, predicted_clv,
           expected_order_margin, predicted_margin_clv, horizon_months
    from {{ source('kpi_models', 'customer_clv_predictions') }}

),

joined as (

    select
        c.golden_customer_id,
        {{ as_of }} as as_of_date,

        ----------  orders and revenue
        coalesce(o.orders_count, 0) as orders_count,
        cast(coalesce(o.orders_net, 0) - coalesce(o.refunds_on_orders_net, 0) - coalesce(lr.refunded_net, 0)
             as decimal(18, 2)) as net_revenue,
        cast(coalesce(o.orders_gross, 0) - coalesce(o.refunds_on_orders_gross, 0) - coalesce(lr.refunded_gross, 0)
             as decimal(18, 2)) as gross_revenue,
        cast(coalesce(o.orders_net, 0) as decimal(18, 2)) as orders_net,
        cast(coalesce(o.refunds_on_orders_net, 0) + coalesce(lr.refunded_net, 0) as decimal(18, 2)) as refunds_net,
        coalesce(o.returns_count, 0) as returns_count,
        cast(coalesce(o.cost_of_goods, 0) as decimal(18, 2)) as cost_of_goods,
        coalesce(t.tickets_count, 0) as tickets_count,
        coalesce(o.orders_count, 0) > 0 as has_orders,
        cast(coalesce(o.order_value_net, 0) as decimal(18, 2)) as order_value_net,
        cast(coalesce(o.order_value_gross, 0) as decimal(18, 2)) as order_value_gross,
        cast(coalesce(o.discounts_net, 0) as decimal(18, 2)) as discounts_net,
        cast(coalesce(o.shipping_charged_net, 0) as decimal(18, 2)) as shipping_charged_net,
        cast(coalesce(o.shipping_cost, 0) as decimal(18, 2)) as shipping_cost,
        cast(coalesce(o.payment_fees, 0) as decimal(18, 2)) as payment_fees,
        cast(coalesce(o.return_handling_cost, 0) as decimal(18, 2)) as return_handling_cost,
        cast(coalesce(o.contribution_margin_1, 0) as decimal(18, 2)) as contribution_margin_1,
        cast(coalesce(o.contribution_margin_2, 0) as decimal(18, 2)) as contribution_margin_2,
        cast(coalesce(lr.refunded_net, 0) as decimal(18, 2)) as loose_credit_notes_net,
        cast({{ cost_per_ticket }} * coalesce(t.tickets_count, 0) as decimal(18, 2)) as service_cost,
        o.net_value_kept as orders_net_value_kept,

        ----------  returns
        coalesce(l.units_delivered, 0) as units_delivered,
        coalesce(l.units_returned, 0) as units_returned,
        {{ safe_ratio('l.units_returned', 'l.units_delivered') }} as return_rate,
        {{ safe_ratio('l.returned_net', 'l.delivered_net') }} as return_rate_value,

        ----------  payment
        {%- for method in var('payment_methods') %}
        o.payment_share_{{ method }},
        {%- endfor %}
        o.payment_share_other,
        o.payment_share_invoice as invoice_share,
        coalesce(i.invoices_count, 0) as invoices_count,
        i.median_days_to_pay,
        i.late_payment_share,
        coalesce(i.current_dunning_level, 0) as current_dunning_level,
        cast(coalesce(i.open_receivables, 0) as decimal(18, 2)) as open_receivables,
        coalesce(i.overdue_invoices_count, 0) as overdue_invoices_count,
        {%- for method in pay_later_methods %}
        im.median_days_to_pay_{{ method }},
        {%- endfor %}
        coalesce(ck.abandoned_checkouts, 0) as abandoned_checkouts,
        coalesce(so.shop_orders, 0) as shop_orders,
        {{ safe_ratio('coalesce(ck.abandoned_checkouts, 0)', 'coalesce(ck.abandoned_checkouts, 0) + coalesce(so.shop_orders, 0)') }}
            as cart_abandonment_rate,

        ----------  service
        {%- for channel in channels %}
        coalesce(t.tickets_{{ channel }}, 0) as tickets_{{ channel }},
        {%- endfor %}
        pc.preferred_channel,
        t.last_ticket_date,
        s.last_csat_rating,
        s.last_csat_date,
        s.last_nps_score,
        s.last_nps_date,

        ----------  recency / frequency / monetary (last 24 months) and lifetime
        o.first_order_date,
        o.last_order_date,
        {{ days_between('o.last_order_date', as_of) }} as days_since_last_order,
        coalesce(o.orders_count_24m, 0) as orders_count_24m,
        cast(coalesce(o.net_revenue_24m, 0) as decimal(18, 2)) as net_revenue_24m,
        {{ days_between('o.first_order_date', as_of) }} as tenure_days,
        c.birthday,
        c.has_email_marketing_consent as email_marketing_consent,
        c.email_marketing_consent_state,

        ----------  predictions
        p.p_alive,
        p.expected_purchases as expected_purchases_horizon,
        p.expected_order_value,
        p.predicted_clv,
        p.expected_order_margin,
        p.predicted_margin_clv,
        p.horizon_months as prediction_horizon_months

    from customers c
    left join order_facts o on o.golden_customer_id = c.golden_customer_id
    left join loose_refunds lr on lr.golden_customer_id = c.golden_customer_id
    left join line_facts l on l.golden_customer_id = c.golden_customer_id
    left join invoice_facts i on i.golden_customer_id = c.golden_customer_id
    left join invoice_method_facts im on im.golden_customer_id = c.golden_customer_id
    left join checkout_facts ck on ck.golden_customer_id = c.golden_customer_id
    left join shop_order_facts so on so.golden_customer_id = c.golden_customer_id
    left join ticket_facts t on t.golden_customer_id = c.golden_customer_id
    left join preferred_channels pc on pc.golden_customer_id = c.golden_customer_id
    left join survey_facts s on s.golden_customer_id = c.golden_customer_id
    left join predictions p on p.golden_customer_id = c.golden_customer_id

),

final as (

    select
        {{ star_except(['orders_net_value_kept']) }},
        net_revenue as historic_clv,
        case when has_orders then
            cast(contribution_margin_2 - loose_credit_notes_net - service_cost as decimal(18, 2))
        end as margin_clv,
        case when has_orders then contribution_margin_2 - loose_credit_notes_net - service_cost > 0 end as is_profitable,
        {{ prorate_money('order_value_net', 1, 'orders_count') }} as aov,
        {{ prorate_money('orders_net_value_kept', 1, 'orders_count') }} as net_value_per_order

    from joined

)

select * from final
