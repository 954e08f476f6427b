with

source as (

    select * from {{ source('erp', 'erp_products') }}
    where {{ not_set_aside('erp_products') }}

),

renamed as (

    select
        id as source_record_id,
        'erp' as source_system,
        {{ to_id(json_get('record', 'id')) }} as product_id,
        {{ erp_text('default_code') }} as sku,
        {{ erp_text('name') }} as product_name,
        {{ erp_many2one_id('categ_id') }} as category_id,
        {{ erp_many2one_name('categ_id') }} as category_name,
        {{ to_money(erp_text('list_price')) }} as list_price,
        {{ to_money(erp_text('standard_price')) }} as unit_cost_net,
        coalesce({{ json_bool('active') }}, true) as is_active,
        {{ erp_utc_timestamp(erp_text('write_date')) }} as updated_at,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        not is_active as is_deleted

    from renamed

)

select * from final
