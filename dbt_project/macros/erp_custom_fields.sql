{#- A custom Odoo field configured by name (standard Odoo has no birthday; returns are credit notes, a
    returned quantity on the order line is an install's own field):
    the var `var_name` (dbt unit tests set it), else the setting `env_name` (c360/settings.py ErpOptions,
    which the connector reads too). Unset: null. -#}
{% macro erp_custom_field_name(var_name, env_name) -%}
    {%- set name = var(var_name, '') or env_var(env_name, '') -%}
    {%- if name and not modules.re.fullmatch('[A-Za-z_][A-Za-z0-9_]*', name) -%}
        {{ exceptions.raise_compiler_error(env_name ~ " is '" ~ name ~ "': not an Odoo field name") }}
    {%- endif -%}
    {{- name -}}
{%- endmacro %}

{% macro erp_custom_text(var_name, env_name) -%}
    {%- set name = erp_custom_field_name(var_name, env_name) -%}
    {%- if name -%}{{ erp_text(name) }}{%- else -%}cast(null as {{ type_text() }}){%- endif -%}
{%- endmacro %}
