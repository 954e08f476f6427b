{{ config(materialized='incremental', unique_key='source_record_id') }}

with

source as (

    select * from {{ source('erp', 'erp_sale_order_lines') }}
    where {{ not_set_aside('erp_sale_order_lines') }}
    {% if is_incremental_on('loaded_at') %}
    and {{ raw_records_to_restage() }}
    {% endif %}

),

renamed as (

    select
        id as source_record_id,
        'erp' as source_system,
        {{ to_id(json_get('record', 'id')) }} as sale_order_line_id,
        {{ erp_many2one_id('order_id') }} as sale_order_id,
        {{ erp_many2one_name('order_id') }} as order_name,
        {{ erp_many2one_id('product_id') }} as product_id,
        {{ erp_many2one_name('product_id') }} as product_display_name,
        try_cast({{ erp_text('product_uom_qty') }} as decimal(18, 3)) as quantity_ordered,
        try_cast({{ erp_text('qty_delivered') }} as decimal(18, 3)) as quantity_delivered,
        try_cast({{ erp_text('qty_invoiced') }} as decimal(18, 3)) as quantity_invoiced,
        -- no returned quantity in standard Odoo (credit notes refund returns): an install's custom field named by
        -- C360_ERP_RETURNED_QTY_FIELD, the override of the credit notes (int_erp_order_line_returns)
        coalesce(try_cast({{ erp_custom_text('erp_returned_qty_field', 'C360_ERP_RETURNED_QTY_FIELD') }} as decimal(18, 3)), 0) as quantity_returned,
        {{ to_money(erp_text('price_unit')) }} as price_unit,
        {{ to_money(erp_text('price_subtotal')) }} as price_subtotal_net,
        {{ to_money(erp_text('price_total')) }} as price_total_gross,
        try_cast({{ erp_text('discount') }} as decimal(7, 3)) as discount_percent,
        {{ erp_utc_timestamp(erp_text('write_date')) }} as updated_at,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        -- "[SKU-123] Sneaker" -> "SKU-123"
        nullif(regexp_extract(product_display_name, '^\[([^\]]+)\]', 1), '') as sku

    from renamed

)

select * from final
