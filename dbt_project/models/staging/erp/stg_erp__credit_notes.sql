{#- Customer credit notes (`account.move`, `move_type` out_refund): how standard Odoo refunds a return.
    `invoice_origin` names the sale order(s) the credit note was made from; `reversed_entry_id` the
    invoice it reverses, when it was made from an invoice. -#}
{{ config(
    materialized='incremental',
    unique_key='source_record_id',
    pre_hook="{{ delete_rows_now_set_aside('erp_credit_notes') }}"
) }}

with

source as (

    select * from {{ source('erp', 'erp_credit_notes') }}
    where {{ not_set_aside('erp_credit_notes') }}
    {% if is_incremental_on('loaded_at') %}
    and {{ raw_records_to_restage() }}
    {% endif %}

),

renamed as (

    select
        id as source_record_id,
        'erp' as source_system,
        {{ to_id(json_get('record', 'id')) }} as credit_note_id,
        {{ erp_text('name') }} as credit_note_name,
        {{ erp_text('move_type') }} as move_type,
        {{ erp_text('state') }} as state,
        {{ erp_many2one_id('partner_id') }} as partner_id,
        {{ erp_many2one_name('partner_id') }} as partner_name,
        {{ erp_text('invoice_origin') }} as invoice_origin,
        {{ erp_many2one_id('reversed_entry_id') }} as reversed_invoice_id,
        {{ erp_many2one_name('reversed_entry_id') }} as reversed_invoice_name,
        {{ erp_text('ref') }} as reference,
        try_cast({{ erp_text('invoice_date') }} as date) as invoice_date,
        {{ erp_many2one_name('currency_id') }} as currency_code,
        {{ to_money(erp_text('amount_untaxed')) }} as amount_untaxed,
        {{ to_money(erp_text('amount_tax')) }} as amount_tax,
        {{ to_money(erp_text('amount_total')) }} as amount_total,
        {{ erp_text('payment_state') }} as payment_state,
        {{ erp_utc_timestamp(erp_text('write_date')) }} as updated_at,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        -- only a posted credit note refunds (a draft may change, a cancelled one never counted)
        coalesce(state = 'posted', false) as is_posted

    from renamed

)

select * from final
