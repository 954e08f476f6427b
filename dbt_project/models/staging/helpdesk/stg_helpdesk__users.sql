with

source as (

    select * from {{ source('helpdesk', 'helpdesk_users') }}
    where {{ not_set_aside('helpdesk_users') }}

),

renamed as (

    select
        id as source_record_id,
        'helpdesk' as source_system,
        {{ to_id(json_get('record', 'id')) }} as user_id,
        {{ json_text('name') }} as name,
        {{ clean_text(json_get('record', 'email'), reject_json=false) }} as email,
        {{ clean_text(json_get('record', 'phone')) }} as phone,
        {{ json_text('external_id') }} as external_id,
        {{ json_text('role') }} as role,
        coalesce({{ json_bool('active') }}, true) as is_active,
        {{ plausible_timestamp(to_utc_timestamp(json_get('record', 'created_at'))) }} as created_at,
        {{ to_utc_timestamp(json_get('record', 'updated_at')) }} as updated_at,
        _loaded_at as loaded_at

    from source

),

names as (

    select
        *,
        {{ split_name('name') }}

    from renamed

),

final as (

    select
        source_record_id,
        source_system,
        user_id,
        name,
        first_name,
        last_name,
        first_initial,
        {{ fold_name('first_name') }} as first_name_folded,
        {{ fold_name('last_name') }} as last_name_folded,
        email,
        {{ normalize_email('email') }} as email_normalized,
        {{ email_is_invalid('email') }} as email_is_invalid,
        phone,
        {{ normalize_phone_de('phone') }} as phone_e164,
        external_id,
        -- external_id holds the shop customer id when an agent linked the user to the shop
        {{ to_id('external_id') }} as shop_customer_id,
        role,
        is_active,
        not is_active as is_deleted,
        created_at,
        updated_at,
        loaded_at

    from names

)

select * from final
