with

source as (

    select * from {{ source('accounting', 'accounting_contacts') }}
    where {{ not_set_aside('accounting_contacts') }}

),

renamed as (

    select
        ----------  ids
        id as source_record_id,
        'accounting' as source_system,
        id as contact_id,
        try_cast({{ json_get('record', 'version') }} as integer) as contact_version,
        try_cast({{ json_get('record', 'roles.customer.number') }} as bigint) as customer_number,

        ----------  person or company
        {{ json_text('person.salutation') }} as salutation,
        {{ json_text('person.firstName') }} as first_name_raw,
        {{ json_text('person.lastName') }} as last_name_raw,
        {{ json_text('company.name') }} as company_name,
        {{ json_text('company.vatRegistrationId') }} as vat_id,
        case
            when {{ json_kind('record', 'company') }} = 'OBJECT' then 'company'
            when {{ json_kind('record', 'person') }} = 'OBJECT' then 'person'
        end as contact_type,

        ----------  contact (first address of the first kind present)
        {{ clean_text(json_first([
            'emailAddresses.private[0]', 'emailAddresses.business[0]',
            'emailAddresses.office[0]', 'emailAddresses.other[0]',
        ]), reject_json=false) }} as email,
        {{ clean_text(json_first([
            'phoneNumbers.mobile[0]', 'phoneNumbers.private[0]', 'phoneNumbers.business[0]',
            'phoneNumbers.office[0]', 'phoneNumbers.other[0]',
        ])) }} as phone,

        ----------  address (billing, else shipping)
        coalesce({{ json_text('addresses.billing[0].street') }}, {{ json_text('addresses.shipping[0].street') }}) as street,
        {{ clean_text(json_first(['addresses.billing[0].zip', 'addresses.shipping[0].zip'])) }} as zip,
        coalesce({{ json_text('addresses.billing[0].city') }}, {{ json_text('addresses.shipping[0].city') }}) as city,
        upper(coalesce(
            {{ json_text('addresses.billing[0].countryCode') }}, {{ json_text('addresses.shipping[0].countryCode') }}
        )) as country_code,

        ----------  status
        {{ json_text('note') }} as note,
        coalesce({{ json_bool('archived') }}, false) as is_archived,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        source_record_id,
        source_system,
        contact_id,
        contact_version,
        customer_number,
        contact_type,
        -- the collective contact ("Sammelkunde") books invoices of many customers: never a person
        coalesce(
            lower(trim(company_name)) = 'sammelkunde'
            or lower(trim(last_name_raw)) = 'sammelkunde'
            or lower(trim(concat_ws(' ', first_name_raw, last_name_raw))) = 'sammelkunde',
            false
        ) as is_collective_contact,
        salutation,
        {{ clean_first_name('first_name_raw') }} as first_name,
        last_name_raw as last_name,
        {{ first_initial('first_name_raw') }} as first_initial,
        {{ fold_name('first_name_raw') }} as first_name_folded,
        {{ fold_name('last_name_raw') }} as last_name_folded,
        company_name,
        {{ fold_name('company_name') }} as company_name_folded,
        vat_id,
        email,
        {{ normalize_email('email') }} as email_normalized,
        {{ email_is_invalid('email') }} as email_is_invalid,
        phone,
        {{ normalize_phone_de('phone') }} as phone_e164,
        street,
        {{ normalize_street('street') }} as street_normalized,
        zip,
        {{ normalize_postcode('zip', 'country_code') }} as postcode,
        city,
        country_code,
        note,
        {{ extract_erp_customer_ref('note', 'erp[[:space:]:#-]*') }} as erp_customer_ref,
        is_archived,
        is_archived as is_deleted,
        loaded_at

    from renamed

)

select * from final
