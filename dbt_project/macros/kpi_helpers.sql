{#- Helpers of the KPI marts (models/marts/facts, models/marts/kpis). -#}

{#- The business date of an instant: the calendar day in Germany (Europe/Berlin), where the shop,
    the ERP and the accounting book their days. -#}
{% macro local_date(ts) -%}
    {{ local_day(ts, 'Europe/Berlin') }}
{%- endmacro %}

{#- The date the KPIs are computed as of: dbt var `kpi_as_of` (YYYY-MM-DD), else the env var
    C360_AS_OF (as the identity resolution uses), else today. -#}
{% macro kpi_as_of() -%}
    {%- set value = var('kpi_as_of', none) or env_var('C360_AS_OF', '') -%}
    {%- if value | trim -%} date '{{ value | trim }}' {%- else -%} current_date {%- endif -%}
{%- endmacro %}

{#- A share a / b that is null (not an error) when b is 0. -#}
{% macro safe_ratio(numerator, denominator) -%}
    (cast({{ numerator }} as double) / nullif(cast({{ denominator }} as double), 0))
{%- endmacro %}

{#- The golden customer of a source record, looked up in the crosswalk CTE `crosswalk`. -#}
{% macro golden_of(alias, system, id_expr) -%}
    left join crosswalk {{ alias }}
        on {{ alias }}.source_system = '{{ system }}' and {{ alias }}.source_record_id = cast({{ id_expr }} as {{ type_text() }})
{%- endmacro %}

{#- amount x part / whole as exact money (decimal(18,2)), rounded half away from zero. DuckDB turns a
    decimal division into a double, whose rounding misses cents (5.025 -> 5.02); this stays in
    integers: cents x part / whole with part and whole scaled to thousandths. -#}
{% macro prorate_money(amount, part, whole) -%}
    {%- set wide = type_wide_integer() -%}
    {%- set cents_x_part -%}
        abs(cast(round(({{ amount }}) * 100) as {{ wide }}) * cast(round(({{ part }}) * 1000) as {{ wide }}))
    {%- endset -%}
    {%- set whole_scaled -%} abs(cast(round(({{ whole }}) * 1000) as {{ wide }})) {%- endset -%}
    cast(
        cast(
            sign(round(({{ amount }}) * 100) * ({{ part }}))
            * {{ integer_quotient("2 * " ~ cents_x_part ~ " + " ~ whole_scaled, "nullif(2 * " ~ whole_scaled ~ ", 0)") }}
            as decimal(18, 2)
        ) * 0.01 as decimal(18, 2)
    )
{%- endmacro %}
