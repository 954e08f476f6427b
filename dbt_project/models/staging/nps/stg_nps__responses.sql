{#- NPS survey responses from the survey tool's exports (c360/nps_import.py), one row per response.
    The respondent is found by the shop customer reference when the tool has it, else by the e-mail,
    normalised as every system's e-mails are (macro normalize_email). -#}

with

source as (

    select * from {{ source('nps', 'nps_responses') }}
    where {{ not_set_aside('nps_responses') }}

),

renamed as (

    select
        id as source_record_id,
        'nps' as source_system,
        id as survey_response_id,
        try_cast({{ json_get('record', 'score') }} as integer) as score,
        {{ json_text('email') }} as email,
        {{ normalize_email(json_text('email')) }} as email_normalized,
        {{ to_id(json_get('record', 'customer_reference')) }} as shop_customer_id,
        {{ json_text('comment') }} as comment,
        {{ json_text('survey') }} as survey_name,
        {{ to_utc_timestamp(json_get('record', 'responded_at')) }} as responded_at,
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

),

final as (

    select
        *,
        coalesce(score between 0 and 10, false) as is_score_in_range

    from renamed

)

select * from final
