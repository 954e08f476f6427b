{#- E-mail as a matching key: trimmed (also non-breaking spaces), lower case, and null unless it has
    the form of an address (local@domain.tld, no blanks, brackets or quotes): `max mustermann@web.de`
    or `["a@b"]` must never link two people. Empty -> null. -#}
{% macro normalize_email(expr) -%}
    {%- set surrounding_blanks -%} ^[\s\x{00A0}]+|[\s\x{00A0}]+$ {%- endset -%}
    {%- set trimmed = 'lower(' ~ regex_replace_all(expr, surrounding_blanks, '') ~ ')' -%}
    case when {{ regex_full_match(trimmed, email_pattern()) }} then {{ trimmed }} end
{%- endmacro %}

{#- True when an e-mail was given but is not an address (it is then nulled for matching). -#}
{% macro email_is_invalid(expr) -%}
    (nullif(trim({{ expr }}), '') is not null and {{ normalize_email(expr) }} is null)
{%- endmacro %}

{#- local@domain.tld: no blanks, `@`, quotes, brackets or separators in either part; a domain of
    dot-separated labels ending in a top-level domain of two or more letters (IDN labels included). -#}
{% macro email_pattern() -%}
    [^\s@"(),:;<>\[\]\\]+@([^\s@"(),:;<>\[\]\\.]+\.)+[^\s@"(),:;<>\[\]\\.0-9]{2,}
{%- endmacro %}
