with

source as (

    select * from {{ source('shop', 'shop_checkouts') }}
    where {{ not_set_aside('shop_checkouts') }}

),

renamed as (

    select
        id as source_record_id,
        'shop' as source_system,
        {{ shop_id(json_get('record', 'id')) }} as checkout_id,
        -- REST `token`; a GraphQL AbandonedCheckout has none: its recovery URL names it
        coalesce({{ json_text('token') }}, regexp_extract({{ json_get('record', 'abandonedCheckoutUrl') }}, '/([0-9a-f]{16,})/recover', 1))
            as checkout_token,
        {{ shop_id(json_get('record', 'customer.id')) }} as customer_id,
        {{ clean_text(shop_json('customer.defaultEmailAddress.emailAddress', 'email'), reject_json=false) }} as email,
        {{ shop_money('totalPriceSet', 'total_price') }} as total_price,
        cast(coalesce({{ list_size(shop_list('lineItems', 'line_items')) }}, 0) as integer) as line_items_count,
        {{ to_utc_timestamp(shop_json('createdAt', 'created_at')) }} as created_at,
        {{ to_utc_timestamp(shop_json('updatedAt', 'updated_at')) }} as updated_at,
        {{ to_utc_timestamp(shop_json('completedAt', 'completed_at')) }} as completed_at,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        {{ normalize_email('email') }} as email_normalized,
        completed_at is null as is_abandoned

    from renamed

)

select * from final
