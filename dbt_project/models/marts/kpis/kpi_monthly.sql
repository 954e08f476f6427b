{#- Company KPIs per calendar month (Europe/Berlin): see macro company_kpis for every definition. -#}
{{ company_kpis('month') }}
