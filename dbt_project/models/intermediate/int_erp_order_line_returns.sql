{#- Units returned per ERP sale order line. Standard Odoo refunds a return with a customer credit note:
    the posted credit notes' product lines, linked to the order line by `sale_line_ids`, or, where a
    line names none, by the credit note's `invoice_origin` (the order name) and the product. Drafts and
    cancelled credit notes refund nothing. An install that keeps the returned quantity in a custom
    order-line field named by C360_ERP_RETURNED_QTY_FIELD uses that field instead (the override). -#}

with

{% if erp_custom_field_name('erp_returned_qty_field', 'C360_ERP_RETURNED_QTY_FIELD') %}

returns as (

    select
        sale_order_line_id,
        quantity_returned,
        updated_at as returned_at,
        0 as credit_notes_count
    from {{ ref('stg_erp__sale_order_lines') }}
    where quantity_returned > 0

),

{% else %}

credit_notes as (

    select credit_note_id, invoice_origin, updated_at
    from {{ ref('stg_erp__credit_notes') }}
    where is_posted

),

credit_note_lines as (

    select l.credit_note_id, l.sale_order_line_id, l.product_id, l.quantity, c.invoice_origin, c.updated_at
    from {{ ref('stg_erp__credit_note_lines') }} l
    join credit_notes c on c.credit_note_id = l.credit_note_id
    where l.display_type = 'product'

),

-- the order's first line of a product, for credit-note lines naming no order line
line_by_origin as (

    select order_name, product_id, min(sale_order_line_id) as sale_order_line_id
    from {{ ref('stg_erp__sale_order_lines') }}
    group by order_name, product_id

),

linked as (

    select
        coalesce(l.sale_order_line_id, o.sale_order_line_id) as sale_order_line_id,
        l.credit_note_id,
        l.quantity,
        l.updated_at
    from credit_note_lines l
    left join line_by_origin o
        on l.sale_order_line_id is null and o.order_name = l.invoice_origin and o.product_id = l.product_id

),

returns as (

    select
        sale_order_line_id,
        sum(quantity) as quantity_returned,
        max(updated_at) as returned_at,
        count(distinct credit_note_id) as credit_notes_count
    from linked
    where sale_order_line_id is not null
    group by sale_order_line_id

),

{% endif %}

final as (

    select
        sale_order_line_id,
        cast(quantity_returned as decimal(18, 3)) as quantity_returned,
        returned_at,
        credit_notes_count
    from returns

)

select * from final
