{#- Revenue per month by booking date (the accounting view of a month, beside kpi_monthly's order-date
    cohort view): the booked days of kpi_daily_booked, summed per calendar month. -#}

with

days as (

    select * from {{ ref('kpi_daily_booked') }}

),

final as (

    select
        cast(date_trunc('month', period_start) as date) as period_start,
        cast(date_trunc('month', period_start) + interval 1 month - interval 1 day as date) as period_end,
        any_value(as_of_date) as as_of_date,
        cast(sum(invoices_count) as bigint) as invoices_count,
        cast(sum(invoiced_gross) as decimal(18, 2)) as invoiced_gross,
        cast(sum(credit_notes_count) as bigint) as credit_notes_count,
        cast(sum(credit_notes_gross) as decimal(18, 2)) as credit_notes_gross,
        cast(sum(credit_notes_net) as decimal(18, 2)) as credit_notes_net,
        cast(sum(booked_revenue_gross) as decimal(18, 2)) as booked_revenue_gross
    from days
    group by 1, 2

)

select * from final
