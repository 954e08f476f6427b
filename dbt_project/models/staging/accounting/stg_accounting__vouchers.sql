{{ config(
    materialized='incremental',
    unique_key='source_record_id',
    pre_hook="{{ delete_rows_now_set_aside('accounting_vouchers') }}"
) }}

with

source as (

    select * from {{ source('accounting', 'accounting_vouchers') }}
    where {{ not_set_aside('accounting_vouchers') }}
    {% if is_incremental_on('loaded_at') %}
    and {{ raw_records_to_restage() }}
    {% endif %}

),

renamed as (

    select
        id as source_record_id,
        'accounting' as source_system,
        id as voucher_id,
        {{ json_text('voucherType') }} as voucher_type,
        {{ json_text('voucherStatus') }} as voucher_status,
        {{ json_text('voucherNumber') }} as voucher_number,
        {{ json_text('contactId') }} as contact_id,
        {{ json_text('contactName') }} as contact_name,
        {{ to_money(json_get('record', 'totalAmount')) }} as total_amount,
        {{ to_money(json_get('record', 'openAmount')) }} as open_amount,
        upper({{ json_text('currency') }}) as currency,
        {{ json_text('remark') }} as remark,
        try_cast({{ json_get('record', 'dunningLevel') }} as integer) as dunning_level,
        {{ to_utc_timestamp(json_get('record', 'voucherDate')) }} as voucher_date,
        {{ to_utc_timestamp(json_get('record', 'dueDate')) }} as due_date,
        {{ to_utc_timestamp(json_get('record', 'createdDate')) }} as created_at,
        {{ to_utc_timestamp(json_get('record', 'updatedDate')) }} as updated_at,
        coalesce({{ json_bool('archived') }}, false) as is_archived,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        -- credit notes of bookkeeping and of the invoicing module
        voucher_type in ('salescreditnote', 'creditnote') as is_credit_note,
        voucher_status = 'voided' as is_voided,
        -- booked on the collective contact: only the remark ties the voucher to a customer
        contact_id is null or lower(trim(contact_name)) = 'sammelkunde' as is_collective_contact,
        {{ shop_order_number_from_text('remark') }} as shop_order_number,
        {{ erp_order_name_from_text('remark') }} as erp_order_name,
        is_archived as is_deleted,
        -- voucher dates are calendar days in Germany (midnight Europe/Berlin)
        {{ local_day('voucher_date', 'Europe/Berlin') }} as voucher_day,
        {{ local_day('due_date', 'Europe/Berlin') }} as due_day

    from renamed

)

select * from final
