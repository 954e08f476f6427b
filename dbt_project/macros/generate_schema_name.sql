{#- Schemas are exactly the configured names (`staging`, `intermediate`, `marts`, `segments`);
    models without a `schema` config go to the target schema. dbt's default would prefix the
    target schema (`main_staging`). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
