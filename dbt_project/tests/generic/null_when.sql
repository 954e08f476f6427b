{#- `column_name` is null exactly when `condition` holds (e.g. the unresolved reason is set exactly
    when the golden customer is unknown). -#}
{% test null_exactly_when(model, column_name, condition) %}

select *
from {{ model }}
where ({{ column_name }} is null) != coalesce(({{ condition }}), false)

{% endtest %}
