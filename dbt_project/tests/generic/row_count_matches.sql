{#- The model has as many rows as `other` (e.g. one row per golden customer). -#}
{% test row_count_matches(model, other) %}

select (select count(*) from {{ model }}) as model_rows, (select count(*) from {{ other }}) as other_rows
where (select count(*) from {{ model }}) != (select count(*) from {{ other }})

{% endtest %}
