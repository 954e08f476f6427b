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

refunds as (

    {{ list_elements('orders', shop_list('refunds', 'refunds', 'orders.record', connection=false), 'refund',
                     'refund_position', 'orders.id as order_source_record_id, orders._loaded_at as loaded_at') }}

),

refund_lines as (

    {{ list_elements('refunds', shop_list('refundLineItems', 'refund_line_items', 'refund'), 'refund_line',
                     'refund_line_position', 'order_source_record_id, loaded_at, refund_position, refund') }}

),

renamed as (

    select
        order_source_record_id || '-' || refund_position || '-' || refund_line_position as refund_line_key,
        order_source_record_id || '-' || refund_position as refund_key,
        'shop' as source_system,
        {{ to_id("order_source_record_id") }} as order_id,
        {{ shop_id(json_get('refund', 'id')) }} as refund_id,
        refund_line_position,
        {{ shop_id(shop_json('lineItem.id', 'line_item_id', 'refund_line')) }} as line_item_id,
        try_cast({{ json_get('refund_line', 'quantity') }} as integer) as quantity,
        {{ shop_money('subtotalSet', 'subtotal', 'refund_line') }} as subtotal,
        {{ to_utc_timestamp(shop_json('createdAt', 'created_at', 'refund')) }} as refunded_at,
        loaded_at

    from refund_lines

),

final as (

    select
        *,
        refund_line_key as source_record_id

    from renamed

)

select * from final
