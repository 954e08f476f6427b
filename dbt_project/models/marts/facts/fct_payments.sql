{#- Payments received, one row per payment, tied to the customer of the invoice they pay
    (fct_invoices: its contact, or the order named in its remark).

    Incremental: a daily run parses only the payments landed since the last build (`loaded_at`) and
    re-links the stored ones to today's invoices; only rows that differ from the stored ones are
    written (delete+insert on payment_id). A full refresh gives the same table. -#}

{{ config(materialized='incremental', unique_key='payment_id') }}

{%- set incremental = is_incremental_on('loaded_at') %}

with

payments as (

    select payment_id, voucher_id, paid_at, amount, payment_method, loaded_at
    from {{ ref('stg_accounting__payments') }}
    where is_payment
    {% if incremental %}
    and {{ landed_since_last_build() }}
    {% endif %}

),

{% if incremental %}
-- the stored payments, as they came from staging, so that a changed invoice re-links them
stored_payments as (

    select payment_id, invoice_id as voucher_id, paid_at, amount, payment_method, loaded_at
    from {{ this }}
    where payment_id not in (select payment_id from payments)

),

payments_to_link as (

    select * from payments
    union all
    select * from stored_payments

),
{% else %}
payments_to_link as (

    select * from payments

),
{% endif %}

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
        {{ days_between('i.invoice_date', local_date('p.paid_at')) }} as days_after_invoice,
        {{ local_date('p.paid_at') }} > i.due_date as is_after_due_date,
        p.loaded_at

    from payments_to_link p
    left join invoices i on i.invoice_id = p.voucher_id

)

select * from final
{% if incremental %}
{{ except_stored_rows() }}
{% endif %}
