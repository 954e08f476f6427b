{#- A German phone number in any of the sources' formats -> E.164 (`+4915123456789`).

    Accepted: `+49 …`, `0049 …`, national `0 …` (the trunk 0 dropped), `+49 (0) …`, with spaces,
    slashes, dashes, dots and parentheses anywhere. A number with another country code (`+43 …`,
    `0043 …`) is kept as E.164 as it is. Null when anything else is in it (letters, a second `+`),
    when there is no prefix at all (`15123456789` is ambiguous) or when the length cannot be a
    phone number (German national number 6-13 digits starting 1-9; E.164 at most 15 digits). -#}
{% macro normalize_phone_de(expr) -%}
    {%- set separators -%} [\s\x{00A0}/\-().] {%- endset -%}
    {%- set digits = regex_replace_all('nfc_normalize(' ~ expr ~ ')', separators, '') -%}
    {%- set national -%}
        case
            when {{ digits }} like '+49%' then regexp_replace(substr({{ digits }}, 4), '^0', '')
            when {{ digits }} like '0049%' then regexp_replace(substr({{ digits }}, 5), '^0', '')
            when {{ digits }} like '00%' or {{ digits }} like '+%' then null
            when {{ digits }} like '0%' then substr({{ digits }}, 2)
        end
    {%- endset -%}
    {%- set international -%}
        case
            when {{ digits }} like '+%' then substr({{ digits }}, 2)
            when {{ digits }} like '00%' then substr({{ digits }}, 3)
        end
    {%- endset -%}
    case
        {%- set digits_only -%} \+?[0-9]+ {%- endset %}
        when not {{ regex_full_match(digits, digits_only) }} then null
        when {{ regex_full_match(national, '[1-9][0-9]{5,12}') }} then '+49' || ({{ national }})
        when ({{ international }}) not like '49%'
             and {{ regex_full_match(international, '[1-9][0-9]{7,14}') }} then '+' || ({{ international }})
    end
{%- endmacro %}
