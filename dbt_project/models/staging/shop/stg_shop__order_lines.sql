{{ config(
    materialized='incremental',
    unique_key='order_id',
    pre_hook="{{ delete_rows_of_relanded_records('order_id', source('shop', 'shop_orders')) }}"
) }}

with

orders as (

    select * from {{ source('shop', 'shop_orders') }}
    where {{ not_set_aside('shop_orders') }}
    {% if is_incremental_on('loaded_at') %}
    and {{ raw_records_to_restage() }}
    {% endif %}

),

line_items as (

    {{ list_elements('orders', shop_list('lineItems', 'line_items', 'orders.record'), 'line_item', 'line_position',
                     'orders.id as order_source_record_id, orders._loaded_at as loaded_at') }}

),

renamed as (

    select
        order_source_record_id || '-' || line_position as order_line_key,
        'shop' as source_system,
        {{ to_id("order_source_record_id") }} as order_id,
        line_position,
        {{ shop_id(json_get('line_item', 'id')) }} as line_item_id,
        {{ json_text('sku', 'line_item') }} as sku,
        {{ json_text('title', 'line_item') }} as title,
        {{ shop_id(shop_json('product.id', 'product_id', 'line_item')) }} as product_id,
        try_cast({{ json_get('line_item', 'quantity') }} as integer) as quantity,
        {{ shop_money('originalUnitPriceSet', 'price', 'line_item') }} as price,
        loaded_at

    from line_items

),

final as (

    select
        *,
        order_line_key as source_record_id,
        cast(quantity * price as decimal(18, 2)) as line_total

    from renamed

)

select * from final
