{#- A date given as `YYYY-MM-DD` (or German `DD.MM.YYYY`) -> date; null when it does not exist
    (`1985-02-30`), cannot be read, or lies outside [min_date, max_date] (default: the var
    `birthday_min_date` .. today), so impossible birthdays never reach the golden record. -#}
{% macro safe_date(expr, min_date=none, max_date=none) -%}
    {%- set min_date = min_date or var('birthday_min_date', '1900-01-01') -%}
    {%- set parsed = parse_day(expr) -%}
    case
        when {{ parsed }} between date '{{ min_date }}' and {{ "date '" ~ max_date ~ "'" if max_date else 'current_date' }}
            then {{ parsed }}
    end
{%- endmacro %}

{#- True when a value was given but safe_date() rejected it. -#}
{% macro date_is_invalid(expr, min_date=none, max_date=none) -%}
    (nullif(trim({{ expr }}), '') is not null and {{ safe_date(expr, min_date, max_date) }} is null)
{%- endmacro %}
