{#- The incremental facts (models/marts/facts): a daily run parses only the records landed since the
    last build, re-links the stored rows, and writes only the rows that differ from the stored ones
    (delete+insert on the unique key). -#}

{#- True when an incremental model can build on its stored table: dbt's is_incremental() and the
    stored table already has the column the increment is measured by (a table built before the
    model became incremental lacks it, and is then rebuilt in full once). -#}
{% macro is_incremental_on(column) -%}
    {%- if not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set stored = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {{ return(column in stored) }}
{%- endmacro %}

{#- A filter on staging rows: landed after everything the stored table holds. -#}
{% macro landed_since_last_build(column='loaded_at') -%}
    {{ column }} > (select coalesce(max({{ column }}), '-infinity'::timestamptz) from {{ this }})
{%- endmacro %}

{#- Appended to the model's final select: drops the rows that are stored already, as they are. -#}
{% macro except_stored_rows() -%}
    except
    select * from {{ this }}
{%- endmacro %}
