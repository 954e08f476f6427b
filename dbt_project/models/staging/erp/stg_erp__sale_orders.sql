{{ config(
    materialized='incremental',
    unique_key='source_record_id',
    pre_hook="{{ delete_rows_now_set_aside('erp_sale_orders') }}"
) }}

with

source as (

    select * from {{ source('erp', 'erp_sale_orders') }}
    where {{ not_set_aside('erp_sale_orders') }}
    {% if is_incremental_on('loaded_at') %}
    and {{ raw_records_to_restage() }}
    {% endif %}

),

renamed as (

    select
        id as source_record_id,
        'erp' as source_system,
        {{ to_id(json_get('record', 'id')) }} as sale_order_id,
        {{ erp_text('name') }} as order_name,
        {{ erp_many2one_id('partner_id') }} as partner_id,
        {{ erp_many2one_name('partner_id') }} as partner_name,
        {{ erp_text('client_order_ref') }} as client_order_ref,
        {{ erp_many2one_id('team_id') }} as team_id,
        {{ erp_many2one_name('team_id') }} as team_name,
        {{ erp_text('state') }} as state,
        {{ erp_many2one_name('currency_id') }} as currency_code,
        {{ to_money(erp_text('amount_untaxed')) }} as amount_untaxed,
        {{ to_money(erp_text('amount_tax')) }} as amount_tax,
        {{ to_money(erp_text('amount_total')) }} as amount_total,
        {{ erp_utc_timestamp(erp_text('date_order')) }} as ordered_at,
        {{ erp_utc_timestamp(erp_text('write_date')) }} as updated_at,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        {{ shop_order_number_from_ref('client_order_ref') }} as shop_order_number,
        case team_id
            when 1 then 'webshop'
            when 2 then 'phone'
            when 3 then 'store'
        end as sales_channel,
        state = 'cancel' as is_cancelled

    from renamed

)

select * from final
