{#- Names given as one string, in the three forms the sources use:
      `Anna Müller`    -> first_name `Anna`, last_name `Müller`, first_initial `a`
      `Mueller, Anna`  -> first_name `Anna`, last_name `Mueller`, first_initial `a`
      `A. Müller`      -> first_name null,   last_name `Müller`, first_initial `a`
    Also: a salutation or title in front (`Frau`, `Herr`, `Dr.`, `Prof.`) is dropped; several first
    names stay together (`Anna Maria Müller`); name particles belong to the last name
    (`Karl von der Heide` -> `von der Heide`); one word is a last name. -#}

{%- macro _name_clean(expr) -%}
    {%- set blanks -%} [\s\x{00A0}]+ {%- endset -%}
    {%- set salutations -%} (?i)^\s*(?:(?:herr|frau|dr\.?|prof\.?)\s+)+ {%- endset -%}
    {%- set single_spaced = regex_replace_all('nfc_normalize(' ~ expr ~ ')', blanks, ' ') -%}
    trim({{ regex_replace_all(single_spaced, salutations, '') }})
{%- endmacro -%}

{#- A first name that is only an initial (`A.`, `A`) is no first name. -#}
{%- macro clean_first_name(expr) -%}
    case
        {%- set initial -%} (?i)[a-zäöüß]\.? {%- endset %}
        when not {{ regex_full_match('trim(' ~ expr ~ ')', initial) }} then nullif(trim({{ expr }}), '')
    end
{%- endmacro -%}

{%- macro first_initial(expr) -%}
    left({{ fold_name(expr) }}, 1)
{%- endmacro -%}

{%- macro split_name(expr, prefix='') -%}
    {%- set clean = _name_clean(expr) -%}
    {%- set last_name_with_particles -%}
        (?i)(?:^|\s)((?:(?:von|van|de|der|den|zu|zum|zur|vom|ter|da|di|del|la|le)\s+)*\S+)$
    {%- endset -%}
    {%- set last_part -%}
        case
            when position(',' in {{ clean }}) > 0 then nullif(trim(split_part({{ clean }}, ',', 1)), '')
            else nullif({{ regex_extract(clean, last_name_with_particles, 1) }}, '')
        end
    {%- endset -%}
    {%- set first_part -%}
        case
            when position(',' in {{ clean }}) > 0 then nullif(trim(split_part({{ clean }}, ',', 2)), '')
            else nullif(trim(left({{ clean }}, length({{ clean }}) - length(coalesce({{ last_part }}, '')))), '')
        end
    {%- endset -%}
    {{ clean_first_name(first_part) }} as {{ prefix }}first_name,
    {{ last_part }} as {{ prefix }}last_name,
    {{ first_initial(first_part) }} as {{ prefix }}first_initial
{%- endmacro -%}
