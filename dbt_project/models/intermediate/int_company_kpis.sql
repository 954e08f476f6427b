{#- The company KPIs of DOMAIN.md per period, for both grains at once (`grain`: 'day' or 'month'):
    kpi_daily and kpi_monthly are its two halves. Business dates (Europe/Berlin), periods from the
    first counted order up to kpi_as_of(). What does not depend on the grain (activity spells,
    first and second orders) is computed once for both.

    - NPS: latest NPS response per customer (golden customer, else helpdesk user) in the period;
      % promoters (9-10) - % detractors (0-6); `nps_n`; 95 % interval from the trinomial variance
      (macro nps_bound); `is_small_sample_nps` when n < var `kpi_min_sample` (default 30).
    - CSAT: good / (good + bad) satisfaction ratings x 100 (the helpdesk's satisfaction ratings list, by
      the date each rating was created); helpdesk rating: good / (good + bad) x 100 of the rating
      embedded in the ticket, by the date the ticket was rated (solved). `csat_n`, the 95 % Wilson
      interval (macro wilson_bound_pct), `is_small_sample_csat` when n < `kpi_min_sample`.
    - retention (Bindungsrate), a cohort figure: active = a counted order in the last
      `retention_window_months` (default 12). S = customers active at the end of the day before the
      period (the cohort); each buyer of the period is new (first counted order in it), retained (in
      S) or reactivated (ordered before, but not within the window). retention = retained / S x 100;
      churn = base customers who lapse in the period (window ends without an order) / S x 100, i.e.
      (S - (E - new - reactivated)) / S with E active at the period's last day. Both are null and
      `is_retention_immature` while the history before the period is shorter than the window.
    - repeat purchase rate: customers with >= 2 counted orders / with >= 1, up to the period's end.
    - cart abandonment = abandoned checkouts / (abandoned checkouts + non-test shop orders) x 100.
    - AOV (order value before returns / orders), net value per order, net revenue, contribution
      margins I and II, return rate, invoice share: counted orders placed in the period, their
      figures from int_order_values; median days to pay: invoices paid in the period. -#}



{%- set as_of = kpi_as_of() %}
{%- set min_sample = var('kpi_min_sample', 30) %}
{%- set retention_window = var('retention_window_months', 12) %}

with

grains as (

    select 'day' as grain
    union all
    select 'month'

),

counted_orders as (

    select * from {{ ref('int_order_values') }}
    where order_date <= {{ as_of }}

),

-- cart abandonment compares with every real shop order, counted or not
shop_orders as (

    select order_date
    from {{ ref('fct_orders') }}
    where shop_order_id is not null and not is_test and order_date <= {{ as_of }}

),

bounds as (

    select min(order_date) as first_date, {{ as_of }} as last_date
    from counted_orders

),

calendar as (

    select cast(day as date) as day
    from (select {{ each_day('first_date - interval 1 day', 'last_date') }} as day from bounds)

),

periods as (

    select distinct
        g.grain,
        cast(date_trunc(g.grain, day) as date) as period_start,
        case g.grain
            when 'day' then day
            else cast(date_trunc('month', day) + interval 1 month - interval 1 day as date)
        end as period_end
    from calendar, bounds, grains g
    where day >= bounds.first_date

),

----------  orders, revenue, payment
order_kpis as (

    select
        g.grain,
        cast(date_trunc(g.grain, order_date) as date) as period_start,
        count(*) as orders_count,
        sum(amount_net) as orders_net,
        sum(net_value_kept) as net_revenue,
        sum(order_value_net) as order_value_net,
        sum(contribution_margin_1) as contribution_margin_1,
        sum(contribution_margin_2) as contribution_margin_2,
        count(*) filter (where payment_method = 'invoice') as invoice_orders
    from counted_orders, grains g
    group by 1, 2

),

line_kpis as (

    select
        g.grain,
        cast(date_trunc(g.grain, l.order_date) as date) as period_start,
        sum(l.quantity_delivered) as units_delivered,
        sum(l.quantity_returned) as units_returned,
        sum(l.delivered_net) as delivered_net,
        sum(l.returned_net) as returned_net
    from {{ ref('fct_order_lines') }} l
    join counted_orders o on o.order_key = l.order_key
    cross join grains g
    where not l.is_shipping
    group by 1, 2

),

payment_kpis as (

    select
        g.grain,
        cast(date_trunc(g.grain, paid_date) as date) as period_start,
        count(*) as invoices_paid,
        median(days_to_pay) as median_days_to_pay,
        count(*) filter (where is_late) as invoices_paid_late
    from {{ ref('fct_invoices') }}, grains g
    where days_to_pay is not null and not is_voided and paid_date <= {{ as_of }}
    group by 1, 2

),

----------  cart abandonment
checkout_kpis as (

    select
        grain,
        period_start,
        sum(abandoned_checkouts) as abandoned_checkouts,
        sum(shop_orders) as shop_orders
    from (
        select g.grain, cast(date_trunc(g.grain, checkout_date) as date) as period_start,
               count(*) as abandoned_checkouts, 0 as shop_orders
        from {{ ref('fct_checkouts') }}, grains g
        where is_abandoned and checkout_date <= {{ as_of }}
        group by 1, 2
        union all
        select g.grain, cast(date_trunc(g.grain, order_date) as date), 0, count(*)
        from shop_orders, grains g
        group by 1, 2
    )
    group by grain, period_start

),

----------  surveys and ratings
nps_latest as (

    select
        g.grain,
        cast(date_trunc(g.grain, response_date) as date) as period_start,
        -- an unresolved answer counts per e-mail (per response when it has none)
        coalesce(golden_customer_id, 'email:' || respondent_email, 'response:' || survey_response_id) as respondent,
        {{ value_of_greatest('score', ['responded_at', 'survey_response_id']) }} as score
    from {{ ref('fct_survey_responses') }}, grains g
    where survey_type = 'nps' and is_score_in_range and response_date <= {{ as_of }}
    group by 1, 2, 3

),

nps_kpis as (

    select
        grain,
        period_start,
        count(*) as nps_n,
        count(*) filter (where score >= 9) as nps_promoters,
        count(*) filter (where score <= 6) as nps_detractors
    from nps_latest
    group by grain, period_start

),

csat_kpis as (

    select
        g.grain,
        cast(date_trunc(g.grain, response_date) as date) as period_start,
        count(*) as csat_n,
        count(*) filter (where is_csat_satisfied) as csat_satisfied
    from {{ ref('fct_survey_responses') }}, grains g
    where survey_type = 'csat' and is_score_in_range and response_date <= {{ as_of }}
    group by 1, 2

),

rating_kpis as (

    select
        g.grain,
        cast(date_trunc(g.grain, rated_date) as date) as period_start,
        count(*) filter (where satisfaction_rating = 'good') as ratings_good,
        count(*) filter (where satisfaction_rating = 'bad') as ratings_bad
    from {{ ref('fct_tickets') }}, grains g
    where not is_deleted and satisfaction_rating in ('good', 'bad') and rated_date <= {{ as_of }}
    group by 1, 2

),

----------  retention: activity spells [first order, last order + 12 months) per customer
customer_orders as (

    select distinct golden_customer_id, order_date
    from counted_orders
    where golden_customer_id is not null

),

spell_marks as (

    select
        golden_customer_id,
        order_date,
        cast(order_date + interval {{ retention_window }} month as date) as active_until,
        case
            when lag(cast(order_date + interval {{ retention_window }} month as date)) over w >= order_date then 0 else 1
        end as starts_spell
    from customer_orders
    window w as (partition by golden_customer_id order by order_date)

),

spells as (

    select golden_customer_id, spell, min(order_date) as spell_start, max(active_until) as spell_end
    from (
        select *, sum(starts_spell) over (partition by golden_customer_id order by order_date) as spell
        from spell_marks
    )
    group by golden_customer_id, spell

),

firsts as (

    select
        golden_customer_id,
        min(order_date) as first_order_date,
        -- the second counted order (a second order on the same day counts too)
        min(case when order_number = 2 then order_date end) as second_order_date
    from (
        select
            golden_customer_id,
            order_date,
            row_number() over (partition by golden_customer_id order by order_date, order_key) as order_number
        from counted_orders
        where golden_customer_id is not null
    )
    group by golden_customer_id

),

-- active on day d: a spell with start <= d < end (running sum of spell starts and ends)
spell_events as (

    select spell_start as day, 1 as delta from spells
    union all
    select spell_end as day, -1 as delta from spells

),

daily_status as (

    select
        c.day,
        sum(coalesce(e.delta, 0)) over (order by c.day) as active_customers
    from calendar c
    left join (select day, sum(delta) as delta from spell_events group by day) e on e.day = c.day

),

cumulative as (

    select
        c.day,
        sum(coalesce(f.buyers, 0)) over (order by c.day) as buyers,
        sum(coalesce(sc.repeat_buyers, 0)) over (order by c.day) as repeat_buyers
    from calendar c
    left join (select first_order_date as day, count(*) as buyers from firsts group by 1) f on f.day = c.day
    left join (select second_order_date as day, count(*) as repeat_buyers from firsts group by 1) sc on sc.day = c.day

),

----------  retention cohorts: each buyer of a period is new, retained (active in the window before
----------  the period) or reactivated; the previous order is the last one before the period
period_buyers as (

    select
        g.grain,
        cast(date_trunc(g.grain, order_date) as date) as period_start,
        golden_customer_id,
        max(order_date) as last_order_in_period
    from customer_orders, grains g
    group by 1, 2, 3

),

buyer_status as (

    select
        grain,
        period_start,
        golden_customer_id,
        lag(last_order_in_period) over (partition by grain, golden_customer_id order by period_start)
            as previous_order_date
    from period_buyers

),

retention_kpis as (

    select
        grain,
        period_start,
        count(*) filter (where previous_order_date is null) as customers_new,
        -- the same test as the activity spells: active until the previous order + window (exclusive)
        count(*) filter (
            where cast(previous_order_date + interval {{ retention_window }} month as date) >= period_start
        ) as customers_retained,
        count(*) filter (
            where cast(previous_order_date + interval {{ retention_window }} month as date) < period_start
        ) as customers_reactivated
    from buyer_status
    group by grain, period_start

),

retention_periods as (

    select
        p.grain,
        p.period_start,
        -- the window before the period reaches back before the first counted order
        cast(p.period_start - interval {{ retention_window }} month as date) < b.first_date as is_retention_immature
    from periods p, bounds b

),

final as (

    select
        p.grain,
        p.period_start,
        p.period_end,
        coalesce(o.orders_count, 0) as orders_count,
        cast(coalesce(o.net_revenue, 0) as decimal(18, 2)) as net_revenue,
        {{ prorate_money('o.order_value_net', 1, 'o.orders_count') }} as aov,
        {{ prorate_money('o.net_revenue', 1, 'o.orders_count') }} as net_value_per_order,
        cast(coalesce(o.contribution_margin_1, 0) as decimal(18, 2)) as contribution_margin_1,
        cast(coalesce(o.contribution_margin_2, 0) as decimal(18, 2)) as contribution_margin_2,
        round({{ safe_ratio('o.invoice_orders', 'o.orders_count') }} * 100, 4) as invoice_share_pct,
        coalesce(l.units_delivered, 0) as units_delivered,
        coalesce(l.units_returned, 0) as units_returned,
        round({{ safe_ratio('l.units_returned', 'l.units_delivered') }} * 100, 4) as return_rate_pct,
        round({{ safe_ratio('l.returned_net', 'l.delivered_net') }} * 100, 4) as return_rate_value_pct,
        coalesce(pay.invoices_paid, 0) as invoices_paid,
        pay.median_days_to_pay,
        round({{ safe_ratio('pay.invoices_paid_late', 'pay.invoices_paid') }} * 100, 4) as late_payment_pct,
        coalesce(ck.abandoned_checkouts, 0) as abandoned_checkouts,
        coalesce(ck.shop_orders, 0) as shop_orders,
        round({{ safe_ratio('ck.abandoned_checkouts', 'ck.abandoned_checkouts + ck.shop_orders') }} * 100, 4)
            as cart_abandonment_rate_pct,
        coalesce(n.nps_n, 0) as nps_n,
        round(({{ safe_ratio('n.nps_promoters', 'n.nps_n') }} - {{ safe_ratio('n.nps_detractors', 'n.nps_n') }}) * 100, 4)
            as nps,
        -- survey intervals and sample flags
        {{ nps_bound('n.nps_promoters', 'n.nps_detractors', 'n.nps_n', -1) }} as nps_ci_low,
        {{ nps_bound('n.nps_promoters', 'n.nps_detractors', 'n.nps_n', 1) }} as nps_ci_high,
        coalesce(n.nps_n, 0) < {{ min_sample }} as is_small_sample_nps,
        -- deprecated: the same as is_small_sample_nps, kept for existing reports
        coalesce(n.nps_n, 0) < {{ min_sample }} as is_small_sample,
        coalesce(cs.csat_n, 0) as csat_n,
        round({{ safe_ratio('cs.csat_satisfied', 'cs.csat_n') }} * 100, 4) as csat,
        {{ wilson_bound_pct('cs.csat_satisfied', 'cs.csat_n', -1) }} as csat_ci_low,
        {{ wilson_bound_pct('cs.csat_satisfied', 'cs.csat_n', 1) }} as csat_ci_high,
        coalesce(cs.csat_n, 0) < {{ min_sample }} as is_small_sample_csat,
        coalesce(r.ratings_good, 0) as ratings_good,
        coalesce(r.ratings_bad, 0) as ratings_bad,
        round({{ safe_ratio('r.ratings_good', 'r.ratings_good + r.ratings_bad') }} * 100, 4) as helpdesk_good_rating_pct,
        s_start.active_customers as active_customers_start,
        s_end.active_customers as active_customers_end,
        -- retention cohorts
        coalesce(rk.customers_new, 0) as customers_new,
        coalesce(rk.customers_retained, 0) as customers_retained,
        coalesce(rk.customers_reactivated, 0) as customers_reactivated,
        rp.is_retention_immature,
        case when not rp.is_retention_immature then
            round({{ safe_ratio('coalesce(rk.customers_retained, 0)', 's_start.active_customers') }} * 100, 4)
        end as retention_rate_pct,
        case when not rp.is_retention_immature then
            round({{ safe_ratio('s_start.active_customers - (s_end.active_customers - coalesce(rk.customers_new, 0)'
                                ' - coalesce(rk.customers_reactivated, 0))', 's_start.active_customers') }} * 100, 4)
        end as churn_rate_pct,
        cu.buyers,
        cu.repeat_buyers,
        round({{ safe_ratio('cu.repeat_buyers', 'cu.buyers') }} * 100, 4) as repeat_purchase_rate_pct

    from periods p
    left join order_kpis o using (grain, period_start)
    left join line_kpis l using (grain, period_start)
    left join payment_kpis pay using (grain, period_start)
    left join checkout_kpis ck using (grain, period_start)
    left join nps_kpis n using (grain, period_start)
    left join csat_kpis cs using (grain, period_start)
    left join rating_kpis r using (grain, period_start)
    left join retention_kpis rk using (grain, period_start)
    left join retention_periods rp using (grain, period_start)
    left join daily_status s_start on s_start.day = p.period_start - 1
    left join daily_status s_end on s_end.day = least(p.period_end, {{ as_of }})
    left join cumulative cu on cu.day = least(p.period_end, {{ as_of }})

)

select * from final
