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

renamed as (

    select
        order_source_record_id || '-' || refund_position as refund_key,
        'shop' as source_system,
        {{ to_id("order_source_record_id") }} as order_id,
        refund_position,
        {{ shop_id(json_get('refund', 'id')) }} as refund_id,
        {{ to_utc_timestamp(shop_json('createdAt', 'created_at', 'refund')) }} as created_at,
        cast(coalesce({{ list_size(shop_list('refundLineItems', 'refund_line_items', 'refund')) }}, 0) as integer)
            as refund_lines_count,
        -- list functions, not subqueries over unnest(): those are decorrelated into a join over all
        -- refunds, which a filter on loaded_at (the daily test scope) cannot pass
        {%- set refund_lines = shop_list('refundLineItems', 'refund_line_items', 'refund') %}
        {%- set transactions = shop_list('transactions', 'transactions', 'refund') %}
        coalesce({{ list_total(list_map(refund_lines, 'item',
            'try_cast(' ~ json_get('item', 'quantity') ~ ' as integer)'), 'bigint', 'bigint') }}, 0) as refunded_quantity,
        coalesce({{ list_total(list_map(refund_lines, 'item',
            'try_cast(coalesce(' ~ json_get('item', 'subtotalSet.shopMoney.amount') ~ ', ' ~ json_get('item', 'subtotal')
            ~ ') as decimal(18, 2))')) }}, 0) as refunded_lines_subtotal,
        -- successful refund transactions (GraphQL enums REFUND/SUCCESS, REST refund/success)
        {%- set successful_refunds = list_where(transactions, 'tx',
            'lower(' ~ json_get('tx', 'kind') ~ ") = 'refund' and lower(" ~ json_get('tx', 'status') ~ ") = 'success'") %}
        coalesce({{ list_total(list_map(successful_refunds, 'tx',
            'try_cast(coalesce(' ~ json_get('tx', 'amountSet.shopMoney.amount') ~ ', ' ~ json_get('tx', 'amount')
            ~ ') as decimal(18, 2))')) }}, 0) as refunded_amount,
        loaded_at

    from refunds

),

final as (

    select
        *,
        refund_key as source_record_id

    from renamed

)

select * from final
