{#- A postcode as a matching key, by the address's country (ISO code; null counts as Germany, the
    shop's home market).
    German: exactly five digits (text, so leading zeros stay: `01067`). Spaces and a `D-`/`DE-` prefix
    are removed; anything else that is not five digits (`1067`, `101155`, `ABC`) is null: a
    four-digit value may be a postcode whose leading zero was lost, and guessing would risk merging
    different people.
    Any other country: kept as written, upper case without blanks and hyphens (`1010` in Austria,
    `1234 ab` in the Netherlands -> `1234AB`, `00-950` in Poland -> `00950`); only an empty value is
    null. Each country has its own format, and a foreign customer's postcode is as good a key as a
    German one. -#}
{% macro normalize_postcode(expr, country_code='null') -%}
    {%- set country_prefix -%} ^DE?[\s\-]+ {%- endset -%}
    {%- set blank -%} [\s\x{00A0}] {%- endset -%}
    {%- set blank_or_hyphen -%} [\s\x{00A0}\-] {%- endset -%}
    {%- set upper_trimmed = 'upper(trim(' ~ expr ~ '))' -%}
    {%- set compact = regex_replace_all(regex_replace_all(upper_trimmed, country_prefix, ''), blank, '') -%}
    case
        when coalesce(nullif({{ country_code }}, ''), 'DE') = 'DE'
            then case when {{ regex_full_match(compact, '[0-9]{5}') }} then {{ compact }} end
        else nullif({{ regex_replace_all(upper_trimmed, blank_or_hyphen, '') }}, '')
    end
{%- endmacro %}

{#- An Odoo partner's country as normalize_postcode reads it: the many2one gives the country's name in
    the API user's language, not its code, so Germany is recognised by name ('Deutschland', 'Germany');
    no country is null (Germany). Any other country passes through as its name: only 'DE' matters. -#}
{% macro erp_country_code(country_name) -%}
    case when lower(trim({{ country_name }})) in ('deutschland', 'germany') then 'DE' else {{ country_name }} end
{%- endmacro %}
