with

source as (

    select * from {{ source('shop', 'shop_checkouts') }}
    where {{ not_set_aside('shop_checkouts') }}

),

renamed as (

    select
        id as source_record_id,
        'shop' as source_system,
        {{ to_id("record->>'$.id'") }} as checkout_id,
        {{ json_text('token') }} as checkout_token,
        {{ to_id("record->>'$.customer.id'") }} as customer_id,
        {{ clean_text("record->>'$.email'", reject_json=false) }} as email,
        {{ to_money("record->>'$.total_price'") }} as total_price,
        cast(coalesce(json_array_length(record, '$.line_items'), 0) as integer) as line_items_count,
        {{ to_utc_timestamp("record->>'$.created_at'") }} as created_at,
        {{ to_utc_timestamp("record->>'$.updated_at'") }} as updated_at,
        {{ to_utc_timestamp("record->>'$.completed_at'") }} as completed_at,
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
