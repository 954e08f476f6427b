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

renamed as (

    select
        id as source_record_id,
        'accounting' as source_system,
        id as payment_id,
        {{ json_text('voucherId') }} as voucher_id,
        {{ to_utc_timestamp("record->>'$.paidDate'") }} as paid_at,
        {{ to_money("record->>'$.amount'") }} as amount,
        {{ json_text('paymentMethod') }} as payment_method,
        {{ to_utc_timestamp("record->>'$.updatedDate'") }} as updated_at,
        _loaded_at as loaded_at

    from source

),

final as (

    select * from renamed

)

select * from final
