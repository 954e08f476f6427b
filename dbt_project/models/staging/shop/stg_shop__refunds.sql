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

    select
        orders.id as order_source_record_id,
        orders._loaded_at as loaded_at,
        unnest(cast(orders.record->'$.refunds' as json[])) as refund,
        generate_subscripts(cast(orders.record->'$.refunds' as json[]), 1) as refund_position
    from orders
    where json_type(orders.record, '$.refunds') = 'ARRAY'

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
        cast(coalesce(list_sum(list_transform(
            {{ shop_list('refundLineItems', 'refund_line_items', 'refund') }},
            lambda item: try_cast({{ json_get('item', 'quantity') }} as integer)
        )), 0) as bigint) as refunded_quantity,
        cast(coalesce(list_sum(list_transform(
            {{ shop_list('refundLineItems', 'refund_line_items', 'refund') }},
            lambda item: try_cast(coalesce({{ json_get('item', 'subtotalSet.shopMoney.amount') }}, {{ json_get('item', 'subtotal') }}) as decimal(18, 2))
        )), 0) as decimal(18, 2)) as refunded_lines_subtotal,
        -- successful refund transactions (GraphQL enums REFUND/SUCCESS, REST refund/success)
        cast(coalesce(list_sum(list_transform(
            list_filter(
                {{ shop_list('transactions', 'transactions', 'refund') }},
                lambda tx: lower({{ json_get('tx', 'kind') }}) = 'refund' and lower({{ json_get('tx', 'status') }}) = 'success'
            ),
            lambda tx: try_cast(coalesce({{ json_get('tx', 'amountSet.shopMoney.amount') }}, {{ json_get('tx', 'amount') }}) as decimal(18, 2))
        )), 0) as decimal(18, 2)) as refunded_amount,
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
