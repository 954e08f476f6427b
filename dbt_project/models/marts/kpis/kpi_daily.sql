{#- Company KPIs per business day (Europe/Berlin); every definition is in int_company_kpis. -#}
select {{ star_except(['grain']) }} from {{ ref('int_company_kpis') }} where grain = 'day'
