{#- Reading typed values out of the raw `record` JSON column of the landing tables.
    Paths are written without the leading `$.`, e.g. json_text('default_address.zip'). -#}

{#- The value as clean text (macro clean_text: no control characters, capped, no JSON object or
    array); JSON null and empty or blank strings become null. -#}
{% macro json_text(path, column='record') -%}
    {{ clean_text(json_get(column, path)) }}
{%- endmacro %}

{#- The value of the first of `paths` that is present (as json_get gives it). -#}
{% macro json_first(paths, column='record') -%}
    coalesce({% for path in paths %}{{ json_get(column, path) }}{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}

{#- Odoo writes an empty value as `false`, never null: `false` (and null) become null. -#}
{% macro erp_text(path, column='record') -%}
    case
        when coalesce({{ json_kind(column, path) }}, 'NULL') not in ('NULL', 'BOOLEAN')
            then {{ clean_text(json_get(column, path)) }}
    end
{%- endmacro %}

{#- A JSON boolean; anything else (missing, null, a string) is null. -#}
{% macro json_bool(path, column='record') -%}
    case when {{ json_kind(column, path) }} = 'BOOLEAN' then ({{ json_get(column, path) }}) = 'true' end
{%- endmacro %}

{#- Odoo many2one `[id, "display name"]` (or `false`): the id, resp. the display name. -#}
{% macro erp_many2one_id(path, column='record') -%}
    case when {{ json_kind(column, path) }} = 'ARRAY' then try_cast({{ json_get(column, path ~ '[0]') }} as bigint) end
{%- endmacro %}

{% macro erp_many2one_name(path, column='record') -%}
    case when {{ json_kind(column, path) }} = 'ARRAY' then {{ clean_text(json_get(column, path ~ '[1]')) }} end
{%- endmacro %}

{#- ISO 8601 with an offset or `Z` -> timestamptz (an instant; the profile shows it in UTC). -#}
{% macro to_utc_timestamp(expr) -%}
    try_cast({{ expr }} as {{ type_instant() }})
{%- endmacro %}

{#- Odoo's naive UTC `YYYY-MM-DD HH:MM:SS` -> timestamptz. -#}
{% macro erp_utc_timestamp(expr) -%}
    try_cast(({{ expr }}) || '+00:00' as {{ type_instant() }})
{%- endmacro %}

{#- Money (decimal strings or JSON numbers) -> decimal(18,2). -#}
{% macro to_money(expr) -%}
    try_cast({{ expr }} as decimal(18, 2))
{%- endmacro %}

{#- An integer id given as a JSON number or a string of digits; anything else is null. -#}
{% macro to_id(expr) -%}
    case when {{ regex_full_match('trim(' ~ expr ~ ')', '[0-9]+') }} then try_cast(trim({{ expr }}) as bigint) end
{%- endmacro %}
