{#- Revenue per day by booking date (the accounting view of a day, beside kpi_daily's order-date view):
    sales invoices by their voucher date, credit notes by theirs, as accounting books them. Voided
    vouchers and draft invoices are not booked. Amounts are gross: the accounting vouchers carry their
    total incl. VAT (credit notes also their net share, from fct_refunds). A credit note counts here
    even where the customer KPIs count the same return through the ERP or the shop: the books hold
    every voucher once. kpi_monthly_booked sums these days. -#}

{%- set as_of = kpi_as_of() %}

with

invoices as (

    select
        invoice_date as period_start,
        count(*) as invoices_count,
        sum(amount_gross) as invoiced_gross
    from {{ ref('fct_invoices') }}
    where not is_voided and voucher_status <> 'draft' and invoice_date <= {{ as_of }}
    group by 1

),

credit_notes as (

    select
        refund_date as period_start,
        count(*) as credit_notes_count,
        sum(amount_gross) as credit_notes_gross,
        sum(amount_net) as credit_notes_net
    from {{ ref('fct_refunds') }}
    where refund_source = 'credit_note' and not is_voided and refund_date <= {{ as_of }}
    group by 1

),

days as (

    select cast(day as date) as period_start
    from (
        select {{ each_day('first_day', as_of) }} as day
        from (
            select min(period_start) as first_day
            from (select period_start from invoices union all select period_start from credit_notes)
        )
    )

),

final as (

    select
        d.period_start,
        d.period_start as period_end,
        {{ as_of }} as as_of_date,
        coalesce(i.invoices_count, 0) as invoices_count,
        cast(coalesce(i.invoiced_gross, 0) as decimal(18, 2)) as invoiced_gross,
        coalesce(c.credit_notes_count, 0) as credit_notes_count,
        cast(coalesce(c.credit_notes_gross, 0) as decimal(18, 2)) as credit_notes_gross,
        cast(coalesce(c.credit_notes_net, 0) as decimal(18, 2)) as credit_notes_net,
        cast(coalesce(i.invoiced_gross, 0) - coalesce(c.credit_notes_gross, 0) as decimal(18, 2)) as booked_revenue_gross
    from days d
    left join invoices i using (period_start)
    left join credit_notes c using (period_start)

)

select * from final
