with

source as (

    select * from {{ source('erp', 'erp_partners') }}
    where {{ not_set_aside('erp_partners') }}

),

renamed as (

    select
        ----------  ids
        id as source_record_id,
        'erp' as source_system,
        {{ to_id(json_get('record', 'id')) }} as partner_id,
        upper({{ erp_text('ref') }}) as erp_customer_ref,

        ----------  person or company
        {{ erp_text('name') }} as name,
        coalesce({{ json_bool('is_company') }}, false) as is_company,
        {{ erp_text('vat') }} as vat_id,
        -- no birthday in standard Odoo: a custom field named by C360_ERP_BIRTHDAY_FIELD, if any
        {{ erp_custom_text('erp_birthday_field', 'C360_ERP_BIRTHDAY_FIELD') }} as birthday_raw,

        ----------  contact
        {{ erp_text('email') }} as email,
        {{ erp_text('phone') }} as phone,
        {{ erp_text('mobile') }} as mobile,

        ----------  address
        {{ erp_text('street') }} as street,
        {{ erp_text('street2') }} as street2,
        {{ erp_text('zip') }} as zip,
        {{ erp_text('city') }} as city,
        {{ erp_many2one_id('country_id') }} as country_id,
        {{ erp_many2one_name('country_id') }} as country_name,

        ----------  contacts of a company (res.partner parent_id), address type, customer rank
        {{ erp_many2one_id('parent_id') }} as parent_partner_id,
        {{ erp_many2one_name('parent_id') }} as parent_partner_name,
        {{ erp_text('type') }} as address_type,
        try_cast({{ erp_text('customer_rank') }} as integer) as customer_rank,

        ----------  status
        coalesce({{ json_bool('active') }}, true) as is_active,

        ----------  timestamps
        {{ plausible_timestamp(erp_utc_timestamp(erp_text('create_date'))) }} as created_at,
        {{ erp_utc_timestamp(erp_text('write_date')) }} as updated_at,
        _loaded_at as loaded_at

    from source

),

names as (

    select
        *,
        {{ split_name('case when not is_company then name end') }}

    from renamed

),

final as (

    select
        source_record_id,
        source_system,
        partner_id,
        erp_customer_ref,
        name,
        is_company,
        case when is_company then name end as company_name,
        vat_id,
        first_name,
        last_name,
        first_initial,
        {{ fold_name('first_name') }} as first_name_folded,
        {{ fold_name('last_name') }} as last_name_folded,
        {{ fold_name('case when is_company then name end') }} as company_name_folded,
        email,
        {{ normalize_email('email') }} as email_normalized,
        {{ email_is_invalid('email') }} as email_is_invalid,
        phone,
        {{ normalize_phone_de('phone') }} as phone_e164,
        mobile,
        {{ normalize_phone_de('mobile') }} as mobile_e164,
        birthday_raw,
        {{ safe_date('birthday_raw') }} as birthday,
        {{ date_is_invalid('birthday_raw') }} as birthday_is_invalid,
        street,
        {{ normalize_street('street') }} as street_normalized,
        street2,
        zip,
        {{ normalize_postcode('zip', erp_country_code('country_name')) }} as postcode,
        city,
        country_id,
        country_name,
        parent_partner_id,
        parent_partner_name,
        address_type,
        customer_rank,
        is_active,
        not is_active as is_deleted,
        created_at,
        updated_at,
        loaded_at

    from names

)

select * from final
