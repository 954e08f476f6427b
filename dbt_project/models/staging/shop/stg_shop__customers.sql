with

source as (

    select * from {{ source('shop', 'shop_customers') }}
    where {{ not_set_aside('shop_customers') }}

),

renamed as (

    select
        ----------  ids
        id as source_record_id,
        'shop' as source_system,
        {{ to_id("record->>'$.id'") }} as customer_id,

        ----------  person
        {{ json_text('first_name') }} as first_name_raw,
        {{ json_text('last_name') }} as last_name_raw,
        {{ clean_text("record->>'$.email'", reject_json=false) }} as email,
        {{ clean_text("record->>'$.phone'") }} as phone,
        record->>'$.birthday' as birthday_raw,

        ----------  address
        {{ json_text('default_address.address1') }} as street,
        {{ json_text('default_address.address2') }} as street2,
        {{ clean_text("record->>'$.default_address.zip'") }} as zip,
        {{ json_text('default_address.city') }} as city,
        upper({{ json_text('default_address.country_code') }}) as country_code,
        {{ json_text('default_address.company') }} as company_name,

        ----------  status
        {{ json_text('state') }} as state,
        coalesce({{ json_bool('guest') }}, false) as is_guest,
        {{ json_bool('verified_email') }} as is_email_verified,
        {{ json_text('tags') }} as tags,

        ----------  consent
        {{ json_text('email_marketing_consent.state') }} as email_marketing_consent_state,
        {{ json_text('email_marketing_consent.opt_in_level') }} as email_marketing_opt_in_level,
        {{ to_utc_timestamp("record->>'$.email_marketing_consent.consent_updated_at'") }}
            as email_marketing_consent_updated_at,

        ----------  timestamps
        {{ plausible_timestamp(to_utc_timestamp("record->>'$.created_at'")) }} as created_at,
        {{ to_utc_timestamp("record->>'$.updated_at'") }} as updated_at,
        _loaded_at as loaded_at

    from source

),

normalized as (

    select
        *,
        {{ clean_first_name('first_name_raw') }} as first_name,
        last_name_raw as last_name,
        {{ first_initial('first_name_raw') }} as first_initial,
        {{ fold_name('first_name_raw') }} as first_name_folded,
        {{ fold_name('last_name_raw') }} as last_name_folded,
        {{ normalize_email('email') }} as email_normalized,
        {{ email_is_invalid('email') }} as email_is_invalid,
        {{ normalize_phone_de('phone') }} as phone_e164,
        {{ normalize_street('street') }} as street_normalized,
        {{ normalize_postcode('zip') }} as postcode,
        {{ safe_date('birthday_raw') }} as birthday,
        {{ date_is_invalid('birthday_raw') }} as birthday_is_invalid,
        {{ extract_erp_customer_ref('tags') }} as erp_customer_ref,
        state = 'disabled' as is_deleted,
        email_marketing_consent_state = 'subscribed' as has_email_marketing_consent

    from renamed

),

final as (

    select
        source_record_id,
        source_system,
        customer_id,
        first_name,
        last_name,
        first_initial,
        first_name_folded,
        last_name_folded,
        first_name_raw,
        last_name_raw,
        email,
        email_normalized,
        email_is_invalid,
        phone,
        phone_e164,
        birthday_raw,
        birthday,
        birthday_is_invalid,
        street,
        street_normalized,
        street2,
        zip,
        postcode,
        city,
        country_code,
        company_name,
        state,
        is_deleted,
        is_guest,
        is_email_verified,
        tags,
        erp_customer_ref,
        email_marketing_consent_state,
        email_marketing_opt_in_level,
        email_marketing_consent_updated_at,
        has_email_marketing_consent,
        created_at,
        updated_at,
        loaded_at

    from normalized

)

select * from final
