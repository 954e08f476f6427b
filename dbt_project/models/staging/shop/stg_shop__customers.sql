with

source as (

    select * from {{ source('shop', 'shop_customers') }}
    where {{ not_set_aside('shop_customers') }}

),

renamed as (

    select
        ----------  ids (GraphQL node, else the REST/webhook shape: macros/shop.sql)
        id as source_record_id,
        'shop' as source_system,
        {{ shop_id(json_get('record', 'id')) }} as customer_id,

        ----------  person
        {{ shop_text('firstName', 'first_name') }} as first_name_raw,
        {{ shop_text('lastName', 'last_name') }} as last_name_raw,
        {{ clean_text(shop_json('defaultEmailAddress.emailAddress', 'email'), reject_json=false) }} as email,
        {{ clean_text(shop_json('defaultPhoneNumber.phoneNumber', 'phone')) }} as phone,
        -- Shopify has no birthday field: the standard customer metafield facts.birth_date
        {{ shop_json('birthDate.value', 'birthday') }} as birthday_raw,

        ----------  address
        {{ shop_text('defaultAddress.address1', 'default_address.address1') }} as street,
        {{ shop_text('defaultAddress.address2', 'default_address.address2') }} as street2,
        {{ clean_text(shop_json('defaultAddress.zip', 'default_address.zip')) }} as zip,
        {{ shop_text('defaultAddress.city', 'default_address.city') }} as city,
        upper({{ shop_text('defaultAddress.countryCodeV2', 'default_address.country_code') }}) as country_code,
        {{ shop_text('defaultAddress.company', 'default_address.company') }} as company_name,

        ----------  status: `state` is the customer account (DISABLED = no account, the state of
        -- every guest checkout customer), never a deletion
        lower({{ json_text('state') }}) as state,
        coalesce({{ json_bool('guest') }}, upper({{ json_text('state') }}) = 'DISABLED', false) as is_guest,
        coalesce({{ json_bool('verifiedEmail') }}, {{ json_bool('verified_email') }}) as is_email_verified,
        case
            when {{ json_kind('record', 'tags') }} = 'ARRAY'
                then nullif({{ list_join(json_string_list('record', 'tags'), ', ') }}, '')
            else {{ json_text('tags') }}
        end as tags,

        ----------  consent
        lower({{ shop_text('emailMarketingConsent.marketingState', 'email_marketing_consent.state') }})
            as email_marketing_consent_state,
        lower({{ shop_text('emailMarketingConsent.marketingOptInLevel', 'email_marketing_consent.opt_in_level') }})
            as email_marketing_opt_in_level,
        {{ to_utc_timestamp(shop_json('emailMarketingConsent.consentUpdatedAt', 'email_marketing_consent.consent_updated_at')) }}
            as email_marketing_consent_updated_at,

        ----------  timestamps
        {{ plausible_timestamp(to_utc_timestamp(shop_json('createdAt', 'created_at'))) }} as created_at,
        {{ to_utc_timestamp(shop_json('updatedAt', 'updated_at')) }} as updated_at,
        _loaded_at as loaded_at,
        _deleted_at as deleted_at

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
        {{ normalize_postcode('zip', 'country_code') }} as postcode,
        {{ safe_date('birthday_raw') }} as birthday,
        {{ date_is_invalid('birthday_raw') }} as birthday_is_invalid,
        {{ extract_erp_customer_ref('tags') }} as erp_customer_ref,
        -- Shopify deletes a customer outright and reports it nowhere in GraphQL: the landing's id
        -- reconciliation marks a landed customer the shop no longer holds (docs/source_protocol.md A1:
        -- deletions). The account state is no deletion, `disabled` included.
        deleted_at is not null as is_deleted,
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
