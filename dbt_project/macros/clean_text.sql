{#- Free text as it may be shown and matched. A source can send anything in a text field: control
    characters (NUL, terminal escapes, line breaks) become blanks, surrounding blanks go, the length
    is capped (var `text_max_length`: a 1 MB "first name" reached the golden table once), and text
    that is a JSON object or array where a scalar belongs (a field sent as `{...}`, or its text) is
    rejected (`reject_json=false` keeps it for a field whose own check rejects it with a flag, such as
    an e-mail). Empty -> null. -#}
{% macro clean_text(expr, max_length=none, reject_json=true) -%}
    {%- set max_length = max_length or var('text_max_length') -%}
    {%- set control_characters -%} [\x00-\x1F\x7F]+ {%- endset -%}
    {%- set cleaned -%}
        nullif(left(trim({{ regex_replace_all(expr, control_characters, ' ') }}), {{ max_length }}), '')
    {%- endset -%}
    {%- if reject_json -%}
    case when not {{ is_json_container(expr) }} then {{ cleaned }} end
    {%- else -%}
    {{ cleaned }}
    {%- endif -%}
{%- endmacro %}

{#- True when the text is a JSON object or array (null for null). -#}
{% macro is_json_container(expr) -%}
    {%- set opening_bracket -%} ^\s*[\[{] {%- endset -%}
    ({{ regex_contains(expr, opening_bracket) }} and coalesce({{ json_is_valid('trim(' ~ expr ~ ')') }}, false))
{%- endmacro %}
