{#- Company KPIs per business day (Europe/Berlin): see macro company_kpis for every definition. -#}
{{ company_kpis('day') }}
