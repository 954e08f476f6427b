{#- 95 % intervals of the company survey KPIs (int_company_kpis), documented in kpi_intervals.yml.
    Both are null when n is 0 or null (DuckDB's greatest/least skip nulls, hence the case). -#}

{#- A bound of the Wilson score interval of a proportion, in percent: `side` -1 for the lower, +1 for
    the upper bound. Wilson rather than the normal (Wald) interval because it stays inside [0, 100]
    and keeps its coverage for small n and shares near 0 or 100 (Wilson 1927; Brown, Cai & DasGupta
    2001). -#}
{% macro wilson_bound_pct(successes, n, side, z=1.96) -%}
    {%- set p = safe_ratio(successes, n) -%}
    case when ({{ n }}) > 0 then round(least(100, greatest(0, 100 * (
        ({{ p }} + {{ z }} * {{ z }} / (2.0 * ({{ n }})))
        + ({{ side }}) * {{ z }} * sqrt({{ p }} * (1 - {{ p }}) / ({{ n }}) + {{ z }} * {{ z }} / (4.0 * ({{ n }}) * ({{ n }})))
    ) / (1 + {{ z }} * {{ z }} / cast({{ n }} as double)))), 4) end
{%- endmacro %}

{#- A bound of the 95 % interval of a Net Promoter Score on its -100..100 scale: NPS = p_p - p_d with
    the trinomial variance (p_p + p_d - (p_p - p_d)^2) / n, normal approximation, clipped to
    [-100, 100]; `side` -1 for the lower, +1 for the upper bound. -#}
{% macro nps_bound(promoters, detractors, n, side, z=1.96) -%}
    {%- set p_p = safe_ratio(promoters, n) -%}
    {%- set p_d = safe_ratio(detractors, n) -%}
    case when ({{ n }}) > 0 then round(least(100, greatest(-100, 100 * (
        ({{ p_p }} - {{ p_d }})
        + ({{ side }}) * {{ z }} * sqrt(greatest(0, {{ p_p }} + {{ p_d }} - ({{ p_p }} - {{ p_d }}) * ({{ p_p }} - {{ p_d }}))
                                        / cast({{ n }} as double))
    ))), 4) end
{%- endmacro %}
