{#- A name as a matching key: Unicode NFC, lower case, umlauts and ß transliterated the German way
    (ä -> ae, ö -> oe, ü -> ue, ß -> ss, so `Müller` and `Mueller` meet), other accents stripped
    (é -> e, č -> c, ı -> i), hyphens as spaces, whitespace collapsed and trimmed; empty -> null. -#}
{% macro fold_name(expr) -%}
    {%- set transliterated -%}
        strip_accents(
            replace(replace(replace(replace(replace(replace(
                lower(nfc_normalize({{ expr }})),
                'ä', 'ae'), 'ö', 'oe'), 'ü', 'ue'), 'ß', 'ss'), 'ẞ', 'ss'), 'ı', 'i')
        )
    {%- endset -%}
    {%- set separators -%} [\s\x{00A0}\-]+ {%- endset -%}
    nullif(trim({{ regex_replace_all(transliterated, separators, ' ') }}), '')
{%- endmacro %}
