{#- Street and house number in one form: `Straße`/`Str.`/`Strasse`/`str.`/`str` (a word of its own
    or the end of a compound) -> `Straße`/`straße` (the first letter's case kept), a space between
    street and house number (`Hauptstr.5` -> `Hauptstraße 5`), whitespace collapsed; empty -> null.
    Words that only start like one (`Strand`, `Straßburger`, `Strasser`) are left alone. -#}
{% macro normalize_street(expr) -%}
    nullif(trim(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(
                        nfc_normalize({{ expr }}),
                        '(?i)(s)(?:tra(?:ss|ß)e|tr\.?)([^a-zäöüß]|$)', '\1traße \2', 'g'
                    ),
                    '([A-Za-zÄÖÜäöüß.])([0-9])', '\1 \2', 'g'
                ),
                '[\s\x{00A0}]+', ' ', 'g'
            ),
            ' ,', ',', 'g'
        )
    ), '')
{%- endmacro %}
