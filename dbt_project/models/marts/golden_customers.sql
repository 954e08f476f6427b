{#- One row per real person or company: the golden customer.

    Records are grouped by the crosswalk (`golden_customer_sources`, written by the identity
    resolution assets). Each golden field is chosen by the survivorship rule below: the first
    system in the field's trust order that has a value, and within a system the most recently
    updated record (a soft-deleted record only when no live one has a value). `<field>_source`
    says which system the value came from.

    Incremental: a daily run rebuilds only the golden customers one of whose records landed since
    the last build (`last_loaded_at`) or whose crosswalk rows were resolved again (`resolved_at`: the
    resolution rewrites only the components the day's changes touch), and drops the ids no longer in
    the crosswalk (post-hook); delete+insert on golden_customer_id. A full refresh gives the same table. -#}

{{ config(
    materialized='incremental',
    unique_key='golden_customer_id',
    post_hook="{{ delete_rows_whose_key_is_gone('golden_customer_id', "
              ~ "source('identity_resolution', 'golden_customer_sources')) }}"
) }}

{%- set incremental = is_incremental_on('resolved_at') %}

{%- set trust = {
    'name': ['erp', 'accounting', 'shop', 'helpdesk'],
    'email': ['shop', 'helpdesk', 'erp', 'accounting'],
    'phone': ['erp', 'shop', 'helpdesk', 'accounting'],
    'address': ['erp', 'accounting', 'shop'],
    'birthday': ['shop', 'erp'],
    'company': ['erp', 'accounting', 'shop', 'helpdesk'],
} -%}
{%- set latest_consent = ['email_marketing_consent_updated_at desc nulls last', 'updated_at desc nulls last',
                          'record_key'] -%}
{%- set consent_recorded = 'email_marketing_consent_state is not null' -%}

with

crosswalk as (

    select record_key, golden_customer_id, resolved_at
    from {{ source('identity_resolution', 'golden_customer_sources') }}

),

{% if incremental %}
changed_golden_ids as (

    select golden_customer_id from crosswalk
    where resolved_at > {{ stored_max('resolved_at') }}
    union
    select x.golden_customer_id
    from {{ ref('int_customer_records') }} r
    join crosswalk x on x.record_key = r.record_key
    where r.loaded_at > {{ stored_max('last_loaded_at') }}

),
{% endif %}

records as (

    select r.*, x.golden_customer_id, x.resolved_at
    from {{ ref('int_customer_records') }} r
    join crosswalk x on x.record_key = r.record_key
    {% if incremental %}
    where x.golden_customer_id in (select golden_customer_id from changed_golden_ids)
    {% endif %}

),

golden as (

    select
        golden_customer_id,

        {{ survive('first_name', 'first_name is not null and last_name is not null and not is_company', trust['name']) }} as first_name,
        {{ survive('last_name', 'first_name is not null and last_name is not null and not is_company', trust['name']) }} as last_name,
        {{ survive('source_system', 'first_name is not null and last_name is not null and not is_company', trust['name']) }} as name_source,

        bool_or(is_company) as is_company,
        {{ survive('company_name', 'company_name is not null', trust['company']) }} as company_name,
        {{ survive('source_system', 'company_name is not null', trust['company']) }} as company_name_source,

        {{ survive('email_normalized', 'email_normalized is not null', trust['email']) }} as email,
        {{ survive('source_system', 'email_normalized is not null', trust['email']) }} as email_source,

        {{ survive('phone_e164', 'phone_e164 is not null', trust['phone']) }} as phone,
        {{ survive('source_system', 'phone_e164 is not null', trust['phone']) }} as phone_source,

        {{ survive('street_normalized', 'street_normalized is not null and postcode is not null', trust['address']) }} as street,
        {{ survive('postcode', 'street_normalized is not null and postcode is not null', trust['address']) }} as postcode,
        {{ survive('city', 'street_normalized is not null and postcode is not null', trust['address']) }} as city,
        {{ survive('source_system', 'street_normalized is not null and postcode is not null', trust['address']) }} as address_source,

        {{ survive('birthday', 'birthday is not null', trust['birthday']) }} as birthday,
        {{ survive('source_system', 'birthday is not null', trust['birthday']) }} as birthday_source,

        -- consent: e-mail marketing is the only channel a source records (shop); the latest decision wins
        {{ first_ordered('email_marketing_consent_state', latest_consent, consent_recorded) }}
            as email_marketing_consent_state,
        coalesce({{ first_ordered("email_marketing_consent_state = 'subscribed'", latest_consent, consent_recorded) }},
                 false) as has_email_marketing_consent,
        {{ first_ordered('email_marketing_opt_in_level', latest_consent, consent_recorded) }}
            as email_marketing_opt_in_level,
        max(email_marketing_consent_updated_at) as email_marketing_consent_updated_at,

        min(coalesce(created_at, updated_at)) as first_seen_at,
        max(updated_at) as last_seen_at,
        bool_and(is_deleted) as is_deleted,

        count(*) as source_records,
        count(*) filter (where source_system = 'shop') as shop_records,
        count(*) filter (where source_system = 'erp') as erp_records,
        count(*) filter (where source_system = 'helpdesk') as helpdesk_records,
        count(*) filter (where source_system = 'accounting') as accounting_records,

        max(loaded_at) as last_loaded_at,
        max(resolved_at) as resolved_at

    from records
    group by golden_customer_id

)

select * from golden
