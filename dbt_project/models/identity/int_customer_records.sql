{#- Every customer-type record of the four systems in one schema: the input of identity resolution.
    One row per source record (shop customer, ERP partner, helpdesk user, accounting contact),
    soft-deleted ones included (they are mapped too). Matching keys are the staging models'
    normalised columns; phones are split into mobile (personal) and landline (often shared by a
    household) by the German mobile prefixes +4915x/+4916x/+4917x. For companies the company name
    is the matching name (`last_name_folded`) and there is no first name.

    Incremental: a row depends on its own source record only, so a daily run reads only the records
    landed since the last build and replaces their rows (delete+insert on record_key). -#}

{{ config(materialized='incremental', unique_key='record_key') }}

{%- set incremental = is_incremental_on('loaded_at') %}

with

shop as (

    select
        source_system,
        source_record_id,
        customer_id as shop_customer_id,
        null::bigint as erp_partner_id,
        erp_customer_ref,
        null::bigint as helpdesk_user_id,
        cast(null as {{ type_text() }}) as accounting_contact_id,
        company_name is not null as is_company,
        company_name,
        first_name,
        last_name,
        first_initial,
        first_name_folded,
        last_name_folded,
        email,
        email_normalized,
        phone_e164 as phone_1_e164,
        cast(null as {{ type_text() }}) as phone_2_e164,
        street_normalized,
        postcode,
        city,
        birthday,
        is_deleted,
        is_guest,
        false as is_collective_contact,
        email_marketing_consent_state,
        email_marketing_opt_in_level,
        email_marketing_consent_updated_at,
        created_at,
        updated_at,
        loaded_at
    from {{ ref('stg_shop__customers') }}
    {% if incremental %}
    where {{ landed_since_last_build() }}
    {% endif %}

),

erp as (

    select
        source_system,
        source_record_id,
        cast(null as bigint) as shop_customer_id,
        partner_id as erp_partner_id,
        erp_customer_ref,
        cast(null as bigint) as helpdesk_user_id,
        cast(null as {{ type_text() }}) as accounting_contact_id,
        is_company,
        company_name,
        first_name,
        last_name,
        first_initial,
        first_name_folded,
        last_name_folded,
        email,
        email_normalized,
        mobile_e164 as phone_1_e164,
        phone_e164 as phone_2_e164,
        street_normalized,
        postcode,
        city,
        birthday,
        is_deleted,
        false as is_guest,
        false as is_collective_contact,
        cast(null as {{ type_text() }}) as email_marketing_consent_state,
        cast(null as {{ type_text() }}) as email_marketing_opt_in_level,
        cast(null as {{ type_instant() }}) as email_marketing_consent_updated_at,
        created_at,
        updated_at,
        loaded_at
    from {{ ref('stg_erp__partners') }}
    {% if incremental %}
    where {{ landed_since_last_build() }}
    {% endif %}

),

helpdesk as (

    select
        source_system,
        source_record_id,
        shop_customer_id,
        cast(null as bigint) as erp_partner_id,
        cast(null as {{ type_text() }}) as erp_customer_ref,
        user_id as helpdesk_user_id,
        cast(null as {{ type_text() }}) as accounting_contact_id,
        -- the helpdesk has no company flag: a name ending in a legal form is a company
        {%- set legal_form %}(?i)\b(gmbh|kg|ohg|e\.\s?k\.|ug|ag)\b|\(haftungsbeschr{% endset %}
        {{ regex_contains('name', legal_form) }} as is_company,
        case when {{ regex_contains('name', legal_form) }} then name end as company_name,
        first_name,
        last_name,
        first_initial,
        first_name_folded,
        last_name_folded,
        email,
        email_normalized,
        phone_e164 as phone_1_e164,
        cast(null as {{ type_text() }}) as phone_2_e164,
        cast(null as {{ type_text() }}) as street_normalized,
        cast(null as {{ type_text() }}) as postcode,
        cast(null as {{ type_text() }}) as city,
        cast(null as date) as birthday,
        is_deleted,
        false as is_guest,
        false as is_collective_contact,
        cast(null as {{ type_text() }}) as email_marketing_consent_state,
        cast(null as {{ type_text() }}) as email_marketing_opt_in_level,
        cast(null as {{ type_instant() }}) as email_marketing_consent_updated_at,
        created_at,
        updated_at,
        loaded_at
    from {{ ref('stg_helpdesk__users') }}
    {% if incremental %}
    where {{ landed_since_last_build() }}
    {% endif %}

),

accounting as (

    select
        source_system,
        source_record_id,
        cast(null as bigint) as shop_customer_id,
        cast(null as bigint) as erp_partner_id,
        erp_customer_ref,
        cast(null as bigint) as helpdesk_user_id,
        contact_id as accounting_contact_id,
        contact_type = 'company' or is_collective_contact as is_company,
        company_name,
        first_name,
        last_name,
        first_initial,
        first_name_folded,
        last_name_folded,
        email,
        email_normalized,
        phone_e164 as phone_1_e164,
        cast(null as {{ type_text() }}) as phone_2_e164,
        street_normalized,
        postcode,
        city,
        cast(null as date) as birthday,
        is_deleted,
        false as is_guest,
        is_collective_contact,
        cast(null as {{ type_text() }}) as email_marketing_consent_state,
        cast(null as {{ type_text() }}) as email_marketing_opt_in_level,
        cast(null as {{ type_instant() }}) as email_marketing_consent_updated_at,
        -- contacts carry no timestamps, only a version that counts per contact: no "last changed".
        -- Landing time is no stand-in: it says when we looked, and a full rebuild would differ.
        cast(null as {{ type_instant() }}) as created_at,
        cast(null as {{ type_instant() }}) as updated_at,
        loaded_at
    from {{ ref('stg_accounting__contacts') }}
    {% if incremental %}
    where {{ landed_since_last_build() }}
    {% endif %}

),

unioned as (

    -- every system lists the shop's columns in the shop's order, a column it lacks as null
    select * from shop
    union all select * from erp
    union all select * from helpdesk
    union all select * from accounting

),

keyed as (

    select
        source_system || ':' || source_record_id as record_key,
        *,
        {{ fold_name('company_name') }} as company_name_folded,
        {%- set german_mobile %}\+491[5-7][0-9]+{% endset %}
        case when {{ regex_full_match('phone_1_e164', german_mobile) }} then phone_1_e164
             when {{ regex_full_match('phone_2_e164', german_mobile) }} then phone_2_e164 end as mobile_e164,
        case when phone_1_e164 is not null and not {{ regex_full_match('phone_1_e164', german_mobile) }} then phone_1_e164
             when phone_2_e164 is not null and not {{ regex_full_match('phone_2_e164', german_mobile) }} then phone_2_e164
        end as landline_e164
    from unioned

)

select
    record_key,
    source_system,
    source_record_id,
    shop_customer_id,
    erp_partner_id,
    erp_customer_ref,
    helpdesk_user_id,
    accounting_contact_id,
    coalesce(is_company, false) as is_company,
    is_collective_contact,
    company_name,
    first_name,
    last_name,
    email,
    coalesce(phone_1_e164, phone_2_e164) as phone_e164,
    city,
    ---------- matching keys (companies: the company name is the name, no first name)
    case when not coalesce(is_company, false) then nullif(trim(trailing '.' from first_name_folded), '') end as first_name_folded,
    case when not coalesce(is_company, false) then first_initial end as first_initial,
    case when coalesce(is_company, false) then coalesce(company_name_folded, last_name_folded)
         else last_name_folded end as last_name_folded,
    email_normalized,
    nullif(split_part(email_normalized, '@', 1), '') as email_local,
    mobile_e164,
    landline_e164,
    street_normalized,
    postcode,
    case when street_normalized is not null and postcode is not null
         then lower(street_normalized) || '|' || postcode end as address_key,
    birthday,
    year(birthday) as birth_year,
    ---------- status, consent, time
    coalesce(is_deleted, false) as is_deleted,
    coalesce(is_guest, false) as is_guest,
    email_marketing_consent_state,
    email_marketing_opt_in_level,
    email_marketing_consent_updated_at,
    created_at,
    updated_at,
    loaded_at
from keyed
