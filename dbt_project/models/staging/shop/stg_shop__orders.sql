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
        ----------  ids (GraphQL node, else the REST/webhook shape: macros/shop.sql)
        id as source_record_id,
        'shop' as source_system,
        {{ shop_id(json_get('record', 'id')) }} as order_id,
        {{ json_text('name') }} as order_name,
        -- `name` is the order number with the shop's prefix (#1001); REST also has `order_number`
        coalesce(try_cast({{ json_get('record', 'order_number') }} as bigint),
                 try_cast(regexp_extract({{ json_get('record', 'name') }}, '^#?([0-9]+)$', 1) as bigint)) as order_number,
        {{ shop_id(json_get('record', 'customer.id')) }} as customer_id,
        {{ clean_text(json_get('record', 'email'), reject_json=false) }} as email,

        ----------  status
        lower({{ shop_text('displayFinancialStatus', 'financial_status') }}) as financial_status,
        coalesce({{ json_bool('test') }}, false) as is_test,
        {{ to_utc_timestamp(shop_json('cancelledAt', 'cancelled_at')) }} as cancelled_at,

        ----------  money (gross, in the shop's currency: the `shopMoney` of each money bag)
        upper({{ shop_text('currencyCode', 'currency') }}) as currency,
        {{ shop_money('totalPriceSet', 'total_price') }} as total_price,
        {{ shop_money('subtotalPriceSet', 'subtotal_price') }} as subtotal_price,
        {{ shop_money('totalTaxSet', 'total_tax') }} as total_tax,
        {{ shop_money('totalDiscountsSet', 'total_discounts') }} as total_discounts,
        -- shipping: the shipping lines' total (GraphQL totalShippingPriceSet; REST shipping_lines, or
        -- the `shipping_price` of replay directories written by earlier demo versions)
        coalesce(
            {{ to_money(json_get('record', 'totalShippingPriceSet.shopMoney.amount')) }},
            {{ list_total(list_map(
                shop_list('shippingLines', 'shipping_lines'), 'line',
                'try_cast(coalesce(' ~ json_get('line', 'price_set.shop_money.amount') ~ ', ' ~ json_get('line', 'price') ~ ') as decimal(18, 2))'
            )) }},
            {{ to_money(json_get('record', 'shipping_price')) }}
        ) as shipping_price,

        ----------  presentment (the currency the buyer saw; equals the shop's for a single-currency shop)
        upper(coalesce({{ json_text('presentmentCurrencyCode') }}, {{ json_text('presentment_currency') }},
                       {{ shop_text('currencyCode', 'currency') }})) as presentment_currency,
        coalesce({{ to_money(json_get('record', 'totalPriceSet.presentmentMoney.amount')) }},
                 {{ to_money(json_get('record', 'total_price_set.presentment_money.amount')) }},
                 {{ shop_money('totalPriceSet', 'total_price') }}) as presentment_total_price,

        ----------  payment (gateway names are an open set)
        case
            when {{ json_kind('record', 'paymentGatewayNames') }} = 'ARRAY' then {{ json_string_list('record', 'paymentGatewayNames') }}
            else {{ json_string_list('record', 'payment_gateway_names') }}
        end as payment_gateway_names,
        coalesce({{ json_text('paymentGatewayNames[0]') }}, {{ json_text('payment_gateway_names[0]') }},
                 {{ json_text('gateway') }}) as payment_gateway,

        ----------  addresses
        {{ shop_text('billingAddress.address1', 'billing_address.address1') }} as billing_street,
        {{ clean_text(shop_json('billingAddress.zip', 'billing_address.zip')) }} as billing_zip,
        {{ shop_text('billingAddress.city', 'billing_address.city') }} as billing_city,
        upper({{ shop_text('billingAddress.countryCodeV2', 'billing_address.country_code') }}) as billing_country_code,
        {{ shop_text('shippingAddress.address1', 'shipping_address.address1') }} as shipping_street,
        {{ clean_text(shop_json('shippingAddress.zip', 'shipping_address.zip')) }} as shipping_zip,
        {{ shop_text('shippingAddress.city', 'shipping_address.city') }} as shipping_city,
        upper({{ shop_text('shippingAddress.countryCodeV2', 'shipping_address.country_code') }}) as shipping_country_code,

        ----------  nested
        cast(coalesce({{ list_size(shop_list('lineItems', 'line_items')) }}, 0) as integer) as line_items_count,
        cast(coalesce({{ list_size(shop_list('refunds', 'refunds', connection=false)) }}, 0) as integer) as refunds_count,

        ----------  timestamps
        {{ to_utc_timestamp(shop_json('createdAt', 'created_at')) }} as created_at,
        {{ to_utc_timestamp(shop_json('updatedAt', 'updated_at')) }} as updated_at,
        _loaded_at as loaded_at,
        -- deleted in the shop: no longer among the ids it lists (the landing's reconciliation)
        _deleted_at is not null as is_deleted

    from source

),

final as (

    select
        *,
        {{ normalize_email('email') }} as email_normalized,
        cancelled_at is not null as is_cancelled,
        {{ normalize_street('billing_street') }} as billing_street_normalized,
        {{ normalize_postcode('billing_zip', 'billing_country_code') }} as billing_postcode,
        {{ normalize_street('shipping_street') }} as shipping_street_normalized,
        {{ normalize_postcode('shipping_zip', 'shipping_country_code') }} as shipping_postcode,
        cast(total_price - coalesce(total_tax, 0) as decimal(18, 2)) as total_price_net

    from renamed

)

select * from final
