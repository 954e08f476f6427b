{{ config(
    materialized='incremental',
    unique_key='source_record_id',
    pre_hook="{{ delete_rows_now_set_aside('shop_orders') }}"
) }}

with

source as (

    select * from {{ source('shop', 'shop_orders') }}
    where {{ not_set_aside('shop_orders') }}
    {% if is_incremental_on('loaded_at') %}
    and {{ raw_records_to_restage() }}
    {% endif %}

),

renamed as (

    select
        ----------  ids
        id as source_record_id,
        'shop' as source_system,
        {{ to_id("record->>'$.id'") }} as order_id,
        {{ json_text('name') }} as order_name,
        try_cast(record->>'$.order_number' as bigint) as order_number,
        {{ to_id("record->>'$.customer.id'") }} as customer_id,
        {{ clean_text("record->>'$.email'", reject_json=false) }} as email,

        ----------  status
        {{ json_text('financial_status') }} as financial_status,
        coalesce({{ json_bool('test') }}, false) as is_test,
        {{ to_utc_timestamp("record->>'$.cancelled_at'") }} as cancelled_at,

        ----------  money (gross, EUR)
        upper({{ json_text('currency') }}) as currency,
        {{ to_money("record->>'$.total_price'") }} as total_price,
        {{ to_money("record->>'$.subtotal_price'") }} as subtotal_price,
        {{ to_money("record->>'$.total_tax'") }} as total_tax,
        {{ to_money("record->>'$.total_discounts'") }} as total_discounts,
        {{ to_money("record->>'$.shipping_price'") }} as shipping_price,

        ----------  payment
        cast(json_extract_string(record, '$.payment_gateway_names[*]') as varchar[]) as payment_gateway_names,
        {{ json_text('payment_gateway_names[0]') }} as payment_gateway,

        ----------  addresses
        {{ json_text('billing_address.address1') }} as billing_street,
        {{ clean_text("record->>'$.billing_address.zip'") }} as billing_zip,
        {{ json_text('billing_address.city') }} as billing_city,
        upper({{ json_text('billing_address.country_code') }}) as billing_country_code,
        {{ json_text('shipping_address.address1') }} as shipping_street,
        {{ clean_text("record->>'$.shipping_address.zip'") }} as shipping_zip,
        {{ json_text('shipping_address.city') }} as shipping_city,
        upper({{ json_text('shipping_address.country_code') }}) as shipping_country_code,

        ----------  nested
        cast(coalesce(json_array_length(record, '$.line_items'), 0) as integer) as line_items_count,
        cast(coalesce(json_array_length(record, '$.refunds'), 0) as integer) as refunds_count,

        ----------  timestamps
        {{ to_utc_timestamp("record->>'$.created_at'") }} as created_at,
        {{ to_utc_timestamp("record->>'$.updated_at'") }} as updated_at,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        {{ normalize_email('email') }} as email_normalized,
        cancelled_at is not null as is_cancelled,
        {{ normalize_street('billing_street') }} as billing_street_normalized,
        {{ normalize_postcode('billing_zip') }} as billing_postcode,
        {{ normalize_street('shipping_street') }} as shipping_street_normalized,
        {{ normalize_postcode('shipping_zip') }} as shipping_postcode,
        cast(total_price - coalesce(total_tax, 0) as decimal(18, 2)) as total_price_net

    from renamed

)

select * from final
