{#- Company KPIs per calendar month (Europe/Berlin); every definition is in int_company_kpis. -#}
select {{ star_except(['grain']) }} from {{ ref('int_company_kpis') }} where grain = 'month'
