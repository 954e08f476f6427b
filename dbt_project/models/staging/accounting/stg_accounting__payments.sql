{#- Payments of vouchers, one row per payment item. Lexware Office keeps the payment state per voucher
    (`GET /v1/payments/{voucherId}`): the landed record is that response plus `id` = the voucher id
    and `updatedDate` = the voucher's change marker. Its `paymentItems` are the payments; items that
    move no money (cash discount, dunning costs, currency conversion, written-off receivable) are kept
    and flagged `is_payment = false`. A voucher read again replaces all its rows (delete+insert on
    source_record_id). -#}

{{ config(
    materialized='incremental',
    unique_key='source_record_id',
    pre_hook="{{ delete_rows_now_set_aside('accounting_payments') }}"
) }}

with

source as (

    select * from {{ source('accounting', 'accounting_payments') }}
    where {{ not_set_aside('accounting_payments') }}
    {% if is_incremental_on('loaded_at') %}
    and {{ raw_records_to_restage() }}
    {% endif %}

),

items as (

    {{ json_array_elements('source', 'record', 'paymentItems', 'item', 'item_index') }}

),

renamed as (

    select
        id as source_record_id,
        'accounting' as source_system,
        id || '/' || item_index as payment_id,
        id as voucher_id,
        {{ to_utc_timestamp(json_get('item', 'postingDate')) }} as paid_at,
        {{ to_money(json_get('item', 'amount')) }} as amount,
        {{ json_text('paymentItemType', 'item') }} as payment_method,
        {{ json_text('paymentItemType', 'item') }} as payment_item_type,
        upper(coalesce({{ json_text('currency', 'item') }}, {{ json_text('currency') }})) as currency,
        {{ json_text('paymentStatus') }} as payment_status,
        {{ to_money(json_get('record', 'openAmount')) }} as voucher_open_amount,
        {{ json_text('voucherType') }} as voucher_type,
        {{ json_text('voucherStatus') }} as voucher_status,
        {{ to_utc_timestamp(json_get('record', 'paidDate')) }} as voucher_paid_at,
        {{ to_utc_timestamp(json_get('record', 'updatedDate')) }} as updated_at,
        _loaded_at as loaded_at

    from items

),

final as (

    select
        *,
        coalesce(payment_item_type not in ('cashDiscount', 'dunningCosts', 'currencyConversion',
                                           'irrecoverableReceivable'), true) as is_payment
    from renamed

)

select * from final
