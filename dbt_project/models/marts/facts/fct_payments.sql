{#- Payments received, one row per payment, tied to the customer of the invoice they pay
    (fct_invoices: its contact, or the order named in its remark). -#}

with

payments as (

    select * from {{ ref('stg_accounting__payments') }}

),

invoices as (

    select invoice_id, golden_customer_id, customer_link, unresolved_reason, order_key, invoice_date, due_date
    from {{ ref('fct_invoices') }}

),

final as (

    select
        p.payment_id,
        i.golden_customer_id,
        case
            when i.golden_customer_id is not null then null
            when i.invoice_id is null then 'invoice_not_found'
            else i.unresolved_reason
        end as unresolved_reason,
        i.customer_link,
        p.voucher_id as invoice_id,
        i.order_key,
        p.paid_at,
        {{ local_date('p.paid_at') }} as paid_date,
        p.amount,
        p.payment_method,
        {{ local_date('p.paid_at') }} - i.invoice_date as days_after_invoice,
        {{ local_date('p.paid_at') }} > i.due_date as is_after_due_date

    from payments p
    left join invoices i on i.invoice_id = p.voucher_id

)

select * from final
