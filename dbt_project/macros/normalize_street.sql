{#- Street and house number in one form: `Straße`/`Str.`/`Strasse`/`str.`/`str` (a word of its own
    or the end of a compound) -> `Straße`/`straße` (the first letter's case kept), a space between
    street and house number (`Hauptstr.5` -> `Hauptstraße 5`), whitespace collapsed; empty -> null.
    Words that only start like one (`Strand`, `Straßburger`, `Strasser`) are left alone. -#}
{% macro normalize_street(expr) -%}
    {%- set street_word -%} (?i)(s)(?:tra(?:ss|ß)e|tr\.?)([^a-zäöüß]|$) {%- endset -%}
    {%- set street_word_replaced -%} \1traße \2 {%- endset -%}
    {%- set number_glued_to_name -%} ([A-Za-zÄÖÜäöüß.])([0-9]) {%- endset -%}
    {%- set number_apart -%} \1 \2 {%- endset -%}
    {%- set blanks -%} [\s\x{00A0}]+ {%- endset -%}
    {%- set spelled_out = regex_replace_all('nfc_normalize(' ~ expr ~ ')', street_word, street_word_replaced) -%}
    {%- set numbered = regex_replace_all(spelled_out, number_glued_to_name, number_apart) -%}
    nullif(trim({{ regex_replace_all(regex_replace_all(numbered, blanks, ' '), ' ,', ',') }}), '')
{%- endmacro %}
