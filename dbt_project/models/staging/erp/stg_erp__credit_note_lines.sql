{#- The product lines of the customer credit notes (`account.move.line`, `display_type` product): the
    returned units and their value. `sale_line_ids` (sale app) names the refunded order lines; an
    install without it links by the credit note's `invoice_origin` (int_erp_order_line_returns). -#}
{{ config(
    materialized='incremental',
    unique_key='source_record_id',
    pre_hook="{{ delete_rows_now_set_aside('erp_credit_note_lines') }}"
) }}

with

source as (

    select * from {{ source('erp', 'erp_credit_note_lines') }}
    where {{ not_set_aside('erp_credit_note_lines') }}
    {% if is_incremental_on('loaded_at') %}
    and {{ raw_records_to_restage() }}
    {% endif %}

),

renamed as (

    select
        id as source_record_id,
        'erp' as source_system,
        {{ to_id(json_get('record', 'id')) }} as credit_note_line_id,
        {{ erp_many2one_id('move_id') }} as credit_note_id,
        {{ erp_many2one_name('move_id') }} as credit_note_name,
        {{ erp_text('parent_state') }} as credit_note_state,
        {{ erp_text('display_type') }} as display_type,
        {{ erp_many2one_id('product_id') }} as product_id,
        {{ erp_many2one_name('product_id') }} as product_display_name,
        {{ erp_text('name') }} as label,
        try_cast({{ erp_text('quantity') }} as decimal(18, 3)) as quantity,
        try_cast({{ erp_text('price_unit') }} as decimal(18, 4)) as price_unit,
        try_cast({{ erp_text('discount') }} as decimal(7, 3)) as discount_percent,
        {{ to_money(erp_text('price_subtotal')) }} as price_subtotal_net,
        {{ to_money(erp_text('price_total')) }} as price_total_gross,
        {{ erp_many2one_name('currency_id') }} as currency_code,
        -- many2many: a JSON array of ids; the first names the refunded order line
        case when {{ json_kind('record', 'sale_line_ids') }} = 'ARRAY'
            then try_cast({{ json_get('record', 'sale_line_ids[0]') }} as bigint) end as sale_order_line_id,
        case when {{ json_kind('record', 'sale_line_ids') }} = 'ARRAY'
            then {{ json_array_size('record', 'sale_line_ids') }} end as sale_order_lines_count,
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
