{#- E-mail as a matching key: trimmed (also non-breaking spaces), lower case; empty -> null. -#}
{% macro normalize_email(expr) -%}
    nullif(lower(regexp_replace({{ expr }}, '^[\s\x{00A0}]+|[\s\x{00A0}]+$', '', 'g')), '')
{%- endmacro %}
