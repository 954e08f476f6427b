{#- Sales invoices of the accounting (credit notes are in fct_refunds). An invoice booked on a
    contact belongs to that contact's golden customer; one booked on the collective contact
    ("Sammelkunde") belongs to the customer of the order its remark names. Dates are business days
    in Germany; `days_to_pay` = date of the last payment - invoice date; `is_late` = paid after the
    due date; `is_overdue` = unpaid past the due date. Voided invoices are kept and flagged. -#}

with

crosswalk as (

    select source_system, source_record_id, golden_customer_id
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

orders as (

    select order_key, golden_customer_id, shop_order_number, erp_order_name
    from {{ ref('fct_orders') }}

),

invoices as (

    select * from {{ ref('stg_accounting__vouchers') }}
    where voucher_type in ('salesinvoice', 'invoice')  -- bookkeeping and invoicing module

),

payments as (

    select
        voucher_id,
        count(*) as payments_count,
        sum(amount) as amount_paid,
        max(paid_at) as last_paid_at,
        {{ value_of_greatest("payment_method", ["paid_at", "payment_id"]) }} as payment_method
    from {{ ref('stg_accounting__payments') }}
    where is_payment
    group by voucher_id

),

joined as (

    select
        i.*,
        coalesce(oe.order_key, os.order_key) as order_key,
        coalesce(oe.golden_customer_id, os.golden_customer_id) as order_golden_customer_id,
        gc.golden_customer_id as contact_golden_customer_id,
        p.payments_count,
        p.amount_paid,
        p.last_paid_at,
        p.payment_method
    from invoices i
    left join orders oe on oe.erp_order_name = i.erp_order_name
    left join orders os on os.shop_order_number = i.shop_order_number and i.erp_order_name is null
    left join payments p on p.voucher_id = i.voucher_id
    {{ golden_of('gc', 'accounting', 'case when not i.is_collective_contact then i.contact_id end') }}

),

final as (

    select
        voucher_id as invoice_id,
        voucher_number,
        case when is_collective_contact then order_golden_customer_id
             else coalesce(contact_golden_customer_id, order_golden_customer_id) end as golden_customer_id,
        case
            when not is_collective_contact and contact_golden_customer_id is not null then 'accounting_contact'
            when order_golden_customer_id is not null then 'order_in_remark'
        end as customer_link,
        case
            when (not is_collective_contact and contact_golden_customer_id is not null)
                 or order_golden_customer_id is not null then null
            when is_collective_contact and shop_order_number is null and erp_order_name is null
                then 'collective_contact_without_order_in_remark'
            when is_collective_contact and order_key is null then 'order_in_remark_not_found'
            when is_collective_contact then 'order_unresolved'
            else 'contact_not_in_crosswalk'
        end as unresolved_reason,
        contact_id,
        is_collective_contact,
        remark,
        order_key,
        voucher_status,
        is_voided,
        voucher_date as invoiced_at,
        {{ local_date('voucher_date') }} as invoice_date,
        {{ local_date('due_date') }} as due_date,
        total_amount as amount_gross,
        open_amount,
        coalesce(dunning_level, 0) as dunning_level,
        coalesce(payments_count, 0) as payments_count,
        coalesce(amount_paid, 0) as amount_paid,
        payment_method,
        last_paid_at as paid_at,
        {{ local_date('last_paid_at') }} as paid_date,
        voucher_status in ('paid', 'paidoff') as is_paid,
        case when voucher_status in ('paid', 'paidoff') and last_paid_at is not null
             then {{ days_between(local_date('voucher_date'), local_date('last_paid_at')) }} end as days_to_pay,
        case when voucher_status in ('paid', 'paidoff') and last_paid_at is not null
             then {{ local_date('last_paid_at') }} > {{ local_date('due_date') }} end as is_late,
        not is_voided and voucher_status in ('open', 'overdue')
            and {{ local_date('due_date') }} < {{ kpi_as_of() }} as is_overdue

    from joined

)

select * from final
