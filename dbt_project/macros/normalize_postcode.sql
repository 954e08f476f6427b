{#- A German postcode as exactly five digits (text, so leading zeros stay: `01067`). Spaces and a
    `D-`/`DE-` prefix are removed; anything else that is not five digits (`1067`, `101155`,
    `ABC`) is null: a four-digit value may be a postcode whose leading zero was lost or a foreign
    one, and guessing would risk merging different people. -#}
{% macro normalize_postcode(expr) -%}
    {%- set compact -%}
        regexp_replace(regexp_replace(upper(trim({{ expr }})), '^DE?[\s\-]+', ''), '[\s\x{00A0}]', '', 'g')
    {%- endset -%}
    case when regexp_full_match({{ compact }}, '[0-9]{5}') then {{ compact }} end
{%- endmacro %}
