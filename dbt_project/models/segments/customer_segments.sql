{#- One row per golden customer: RFM scores and segment, ABC class, profitability and every business
    segment of the team as a boolean with its German label, the e-mail marketing consent, and the
    values that put the customer there (inputs, scores, thresholds, `why_<segment>` in words).

    RFM over the last 24 months (inputs from `customer_kpis`): R = days since the last counted order,
    F = counted orders, M = net revenue. R and M are quintiles by NTILE(5) over all golden customers,
    ties broken by golden_customer_id; R is reversed (recent = 5) and a customer without an order in
    the window ranks lowest. F uses fixed bands 1 / 2 / 3 / 4-5 / 6+ orders (most customers have one).
    The quintiles rank the golden customers who ever placed a counted order; a customer who never
    did scores R = F = M = 1 and has the RFM segment 'No Orders' (in no RFM-based segment).
    Profitability: a customer with counted orders is 'profitabel' when margin CLV > 0, else
    'unprofitabel'; a contact without orders is neither ('keine_bestellung': no margin CLV, whatever
    service it cost).

    ABC by 12-month net revenue: customers sorted by it (descending, ties by id); A while the
    cumulative share including the customer is at most 80 %, B up to 95 %, C the rest (and every
    customer without positive revenue). Thresholds: macro `segment_setting` (dbt vars). -#}

{%- set abc_a = segment_setting('segment_abc_a_share') -%}
{%- set abc_b = segment_setting('segment_abc_b_share') -%}
{%- set p_alive_min = segment_setting('segment_p_alive_threshold') -%}
{%- set low_m = segment_setting('segment_low_revenue_max_m') -%}
{%- set bad_nps = segment_setting('segment_bad_nps_max') -%}
{%- set bad_days = segment_setting('segment_bad_experience_days') -%}
{%- set segment_labels -%}
        case when is_besonders_profitabel then 'besonders profitabel' end,
        case when is_treue_kunden then 'treuer Kunde' end,
        case when is_abwanderungsgefaehrdet then 'abwanderungsgefährdet' end,
        case when is_loyal_low_revenue then 'loyal low revenue' end,
        case when is_unprofitabel then 'unprofitabel' end,
        case when is_nach_schlechter_erfahrung then 'nach schlechter Erfahrung' end
{%- endset -%}

with

golden as (

    select golden_customer_id, first_name, last_name, company_name, email, phone, is_deleted,
           has_email_marketing_consent
    from {{ ref('golden_customers') }}

),

kpis as (

    select
        golden_customer_id,
        as_of_date,
        days_since_last_order,
        orders_count_24m as orders_24m,
        net_revenue_24m,
        orders_count as orders_lifetime,
        margin_clv,
        is_profitable,
        p_alive,
        last_csat_rating,
        last_csat_date,
        last_nps_score,
        last_nps_date
    from {{ ref('customer_kpis') }}

),

-- ABC input: net revenue of the last 12 months, the orders' value kept after refunds as in
-- customer_kpis.net_revenue_24m (int_order_values)
revenue_12m as (

    select
        o.golden_customer_id,
        sum(o.net_value_kept) as net_revenue_12m
    from {{ ref('int_order_values') }} o
    join kpis k on k.golden_customer_id = o.golden_customer_id
    where o.order_date <= k.as_of_date
      and o.order_date > k.as_of_date - interval 12 month
    group by o.golden_customer_id

),

-- objections to direct marketing (GDPR Art. 21) in force: out of every e-mail and phone list,
-- whatever the shop's consent says
objections as (

    select golden_customer_id, has_marketing_objection
    from {{ ref('int_marketing_objections') }}

),

-- the last bad helpdesk rating of each customer
bad_ratings as (

    select t.golden_customer_id, max(t.rated_date) as last_bad_rating_date
    from {{ ref('fct_tickets') }} t
    join kpis k on k.golden_customer_id = t.golden_customer_id
    where t.satisfaction_rating = 'bad' and not t.is_deleted and t.rated_date <= k.as_of_date
    group by t.golden_customer_id

),

base as (

    select
        g.*,
        {{ star_except(['golden_customer_id', 'as_of_date'], 'k') }},
        coalesce(k.as_of_date, {{ kpi_as_of() }}) as as_of_date,
        coalesce(r.net_revenue_12m, 0) as net_revenue_12m,
        b.last_bad_rating_date,
        coalesce(o.has_marketing_objection, false) as has_marketing_objection,
        -- R input inside the 24-month window only (an older last order counts as none)
        case when k.days_since_last_order <= 730 then k.days_since_last_order end as recency_days_24m,
        coalesce(k.orders_lifetime, 0) > 0 as has_ordered
    from golden g
    left join kpis k using (golden_customer_id)
    left join revenue_12m r using (golden_customer_id)
    left join bad_ratings b using (golden_customer_id)
    left join objections o using (golden_customer_id)

),

scored as (

    select
        *,
        -- R and M: quintiles among the customers who ever placed a counted order; the others score 1
        case when has_ordered then
            ntile(5) over (partition by has_ordered order by recency_days_24m desc nulls first, golden_customer_id)
        else 1 end as r_score,
        case
            when coalesce(orders_24m, 0) <= 1 then 1
            when orders_24m = 2 then 2
            when orders_24m = 3 then 3
            when orders_24m <= 5 then 4
            else 5
        end as f_score,
        case when has_ordered then
            ntile(5) over (partition by has_ordered order by coalesce(net_revenue_24m, 0), golden_customer_id)
        else 1 end as m_score,
        sum(greatest(coalesce(net_revenue_12m, 0), 0)) over () as abc_total_revenue_12m,
        sum(greatest(coalesce(net_revenue_12m, 0), 0)) over (
            order by coalesce(net_revenue_12m, 0) desc, golden_customer_id
            rows between unbounded preceding and current row
        ) as abc_cumulative_revenue_12m
    from base

),

classified as (

    select
        *,
        cast(r_score as {{ type_text() }}) || cast(f_score as {{ type_text() }}) || cast(m_score as {{ type_text() }})
            as rfm_score,
        case
            when not has_ordered then 'No Orders'
            when r_score = 1 and f_score <= 2 and m_score <= 2 then 'Lost'
            when r_score = 5 and f_score = 1 then 'New Customers'
            when r_score = 5 and f_score <= 3 then 'Potential Loyalists'
            when r_score = 5 then 'Champions'
            when r_score = 4 and f_score = 1 then 'Promising'
            when r_score = 4 and f_score <= 3 then 'Potential Loyalists'
            when r_score = 4 then 'Loyal Customers'
            when r_score = 3 and f_score = 1 then 'About to Sleep'
            when r_score = 3 and f_score <= 3 then 'Need Attention'
            when r_score = 3 then 'Loyal Customers'
            when f_score = 1 then 'Hibernating'
            when f_score <= 3 then 'At Risk'
            else {{ text_literal("Can't Lose Them") }}
        end as rfm_segment,
        -- loyal by R and F: the R/F cells of Champions and Loyal Customers
        r_score >= 3 and f_score >= 4 as is_loyal_by_rf,
        {{ safe_ratio('abc_cumulative_revenue_12m', 'abc_total_revenue_12m') }} as abc_cumulative_share,
        case
            when coalesce(net_revenue_12m, 0) <= 0 then 'C'
            when {{ safe_ratio('abc_cumulative_revenue_12m', 'abc_total_revenue_12m') }} <= {{ abc_a }} then 'A'
            when {{ safe_ratio('abc_cumulative_revenue_12m', 'abc_total_revenue_12m') }} <= {{ abc_b }} then 'B'
            else 'C'
        end as abc_class,
        (last_csat_rating = 'bad' and last_csat_date >= as_of_date - {{ bad_days }}) as had_bad_csat,
        (last_nps_score <= {{ bad_nps }} and last_nps_date >= as_of_date - {{ bad_days }}) as had_bad_nps,
        (last_bad_rating_date >= as_of_date - {{ bad_days }}) as had_bad_rating
    from scored

),

segmented as (

    select
        *,
        coalesce(rfm_segment = 'Champions' and abc_class = 'A' and margin_clv > 0, false) as is_besonders_profitabel,
        rfm_segment in ('Champions', 'Loyal Customers') as is_treue_kunden,
        coalesce(rfm_segment in ('At Risk', {{ text_literal("Can't Lose Them") }}, 'About to Sleep')
                 or p_alive < {{ p_alive_min }}, false) as is_abwanderungsgefaehrdet,
        coalesce(is_loyal_by_rf and m_score <= {{ low_m }}, false) as is_loyal_low_revenue,
        -- only a buyer can be unprofitable: a contact without orders has no margin CLV
        coalesce(has_ordered and margin_clv <= 0, false) as is_unprofitabel,
        case
            when not has_ordered then 'keine_bestellung'
            when margin_clv > 0 then 'profitabel'
            else 'unprofitabel'
        end as profitability,
        coalesce(had_bad_csat, false) or coalesce(had_bad_nps, false) or coalesce(had_bad_rating, false)
            as is_nach_schlechter_erfahrung
    from classified

)

select
    golden_customer_id,
    first_name,
    last_name,
    company_name,
    email,
    phone,
    is_deleted,
    has_email_marketing_consent and not has_marketing_objection as email_marketing_allowed,
    has_marketing_objection,
    as_of_date,

    -- RFM: inputs, scores, segment
    days_since_last_order,
    recency_days_24m,
    orders_24m,
    net_revenue_24m,
    orders_lifetime,
    has_ordered,
    r_score,
    f_score,
    m_score,
    rfm_score,
    rfm_segment,

    -- ABC
    net_revenue_12m,
    abc_cumulative_share,
    abc_class,
    cast({{ abc_a }} as decimal(5, 4)) as abc_a_threshold,
    cast({{ abc_b }} as decimal(5, 4)) as abc_b_threshold,

    -- profitability, churn risk, experience
    margin_clv,
    is_profitable,
    profitability,
    p_alive,
    cast({{ p_alive_min }} as decimal(5, 4)) as p_alive_threshold,
    last_csat_rating,
    last_csat_date,
    last_nps_score,
    last_nps_date,
    last_bad_rating_date,
    cast({{ bad_days }} as integer) as bad_experience_days,

    -- business segments (German labels: see the segment_label of each activation table)
    is_besonders_profitabel,
    is_treue_kunden,
    is_abwanderungsgefaehrdet,
    is_loyal_low_revenue,
    is_unprofitabel,
    is_nach_schlechter_erfahrung,
    {{ list_where(list_of(segment_labels), 'x', 'x is not null') }} as business_segments,

    -- why, in words (null when the customer is not in the segment)
    case when is_besonders_profitabel then
        {{ format_text('RFM {} (R={}, F={}, M={}), ABC {} (cumulative share {:.3f} <= {}), margin CLV {:.2f} > 0',
                       ['rfm_segment', 'r_score', 'f_score', 'm_score', 'abc_class', 'abc_cumulative_share', abc_a,
                        'margin_clv']) }}
    end as why_besonders_profitabel,
    case when is_treue_kunden then
        {{ format_text('RFM {} (R={}, F={}: {} orders in 24 months)',
                       ['rfm_segment', 'r_score', 'f_score', 'orders_24m']) }}
    end as why_treue_kunden,
    case when is_abwanderungsgefaehrdet then
        concat_ws('; ',
            case when rfm_segment in ('At Risk', {{ text_literal("Can't Lose Them") }}, 'About to Sleep')
                 then {{ format_text('RFM {} (R={}, F={}, {} days since the last order)',
                                     ['rfm_segment', 'r_score', 'f_score', 'days_since_last_order']) }} end,
            case when p_alive < {{ p_alive_min }}
                 then {{ format_text('P(alive) {:.3f} < {}', ['p_alive', p_alive_min]) }} end)
    end as why_abwanderungsgefaehrdet,
    case when is_loyal_low_revenue then
        {{ format_text('loyal by R and F (R={} >= 3, F={} >= 4) but M={} <= {} (net revenue 24 months {:.2f})',
                       ['r_score', 'f_score', 'm_score', low_m, 'coalesce(net_revenue_24m, 0)']) }}
    end as why_loyal_low_revenue,
    case when is_unprofitabel then
        {{ format_text('margin CLV {:.2f} <= 0 over {} counted orders', ['margin_clv', 'orders_lifetime']) }}
    end as why_unprofitabel,
    case when is_nach_schlechter_erfahrung then
        concat_ws('; ',
            case when had_bad_csat then {{ format_text('bad CSAT rating on {}', ['last_csat_date']) }} end,
            case when had_bad_nps
                 then {{ format_text('NPS {} <= {} on {}', ['last_nps_score', bad_nps, 'last_nps_date']) }} end,
            case when had_bad_rating then {{ format_text('bad helpdesk rating on {}', ['last_bad_rating_date']) }} end)
        || {{ format_text(' (within {} days before {})', [bad_days, 'as_of_date']) }}
    end as why_nach_schlechter_erfahrung

from segmented
