{#- Where DuckDB (the default engine) and Spark (C360_ENGINE=spark, dbt-spark) write the same thing
    differently: models and macros use these, never either engine's own form, so that one project
    builds on both adapters. What each engine does differently, and how it was checked: docs/spark.md.

    Everything else the models use is common to both (`position(x in y)`, `split_part`, `left`,
    `nullif`, `::date`, `try_cast`); `nfc_normalize` and `strip_accents` are DuckDB functions that the
    Spark runner registers under the same names (c360/spark_dbt.py). -#}

{#- The JSON value at `path` (without the leading `$.`) of the JSON text `column`, as text: a string
    without its quotes, a number or boolean as written, an object or array as JSON; null when missing
    or JSON null. -#}
{% macro json_get(column, path) -%}
    {{ return(adapter.dispatch('json_get')(column, path)) }}
{%- endmacro %}

{% macro default__json_get(column, path) -%}
    {{ column }}->>'$.{{ path }}'
{%- endmacro %}

{% macro spark__json_get(column, path) -%}
    get_json_object({{ column }}, '$.{{ path }}')
{%- endmacro %}

{#- The JSON type at `path`, in DuckDB's names: 'NULL' (JSON null), 'BOOLEAN', 'VARCHAR', 'BIGINT',
    'DOUBLE', 'ARRAY', 'OBJECT'; SQL null when the path is missing. -#}
{% macro json_kind(column, path) -%}
    {{ return(adapter.dispatch('json_kind')(column, path)) }}
{%- endmacro %}

{% macro default__json_kind(column, path) -%}
    json_type({{ column }}, '$.{{ path }}')
{%- endmacro %}

{#- Spark names a variant's type as a schema: `VOID` for JSON null, `STRING`, `DECIMAL(p,s)` for a
    number with a fraction, `ARRAY<...>` and `OBJECT<...>` with their element types: the leading word
    is the kind. -#}
{% macro spark__json_kind(column, path) -%}
    (case regexp_extract(schema_of_variant(variant_get(try_parse_json({{ column }}), '$.{{ path }}')), '^[A-Z]+', 0)
        when 'VOID' then 'NULL'
        when 'STRING' then 'VARCHAR'
        when 'BOOLEAN' then 'BOOLEAN'
        when 'BIGINT' then 'BIGINT'
        when 'INT' then 'BIGINT'
        when 'SMALLINT' then 'BIGINT'
        when 'TINYINT' then 'BIGINT'
        when 'DECIMAL' then 'DOUBLE'
        when 'DOUBLE' then 'DOUBLE'
        when 'FLOAT' then 'DOUBLE'
        when 'ARRAY' then 'ARRAY'
        when 'OBJECT' then 'OBJECT'
    end)
{%- endmacro %}

{#- How many elements the JSON array at `path` has. -#}
{% macro json_array_size(column, path) -%}
    {{ return(adapter.dispatch('json_array_size')(column, path)) }}
{%- endmacro %}

{% macro default__json_array_size(column, path) -%}
    json_array_length({{ column }}, '$.{{ path }}')
{%- endmacro %}

{% macro spark__json_array_size(column, path) -%}
    json_array_length(get_json_object({{ column }}, '$.{{ path }}'))
{%- endmacro %}

{#- The JSON array at `path` as a list of its elements' JSON texts (DuckDB `json[]`, Spark
    `array<string>`). -#}
{% macro json_list(column, path) -%}
    {{ return(adapter.dispatch('json_list')(column, path)) }}
{%- endmacro %}

{% macro default__json_list(column, path) -%}
    cast({{ column }}->'$.{{ path }}' as json[])
{%- endmacro %}

{% macro spark__json_list(column, path) -%}
    from_json(get_json_object({{ column }}, '$.{{ path }}'), 'array<string>')
{%- endmacro %}

{#- How many elements a list has (null for null). -#}
{% macro list_size(expr) -%}
    {{ return(adapter.dispatch('list_size')(expr)) }}
{%- endmacro %}

{% macro default__list_size(expr) -%}
    len({{ expr }})
{%- endmacro %}

{% macro spark__list_size(expr) -%}
    case when {{ expr }} is not null then size({{ expr }}) end
{%- endmacro %}

{#- A select of every row of `relation` once per element of the JSON array at `path` of its
    `column`: the row's columns, the element's JSON text as `element` and its 0-based position as
    `position`. A row whose value is no array gives no row. -#}
{% macro json_array_elements(relation, column, path, element, position) -%}
    {{ return(adapter.dispatch('json_array_elements')(relation, column, path, element, position)) }}
{%- endmacro %}

{% macro default__json_array_elements(relation, column, path, element, position) -%}
    select {{ relation }}.*, elements.value as {{ element }}, cast(elements.key as integer) as {{ position }}
    from {{ relation }}, json_each({{ relation }}.{{ column }}, '$.{{ path }}') as elements
    where json_type({{ relation }}.{{ column }}, '$.{{ path }}') = 'ARRAY'
{%- endmacro %}

{% macro spark__json_array_elements(relation, column, path, element, position) -%}
    select {{ relation }}.*, element_value as {{ element }}, element_position as {{ position }}
    from {{ relation }}
    lateral view posexplode(from_json(get_json_object({{ relation }}.{{ column }}, '$.{{ path }}'), 'array<string>'))
        elements as element_position, element_value
{%- endmacro %}

{#- The JSON array of strings at `path` as a list of text (empty when there is no array). -#}
{% macro json_string_list(column, path) -%}
    {{ return(adapter.dispatch('json_string_list')(column, path)) }}
{%- endmacro %}

{% macro default__json_string_list(column, path) -%}
    cast(json_extract_string({{ column }}, '$.{{ path }}[*]') as {{ type_text() }}[])
{%- endmacro %}

{% macro spark__json_string_list(column, path) -%}
    coalesce(from_json(get_json_object({{ column }}, '$.{{ path }}'), 'array<string>'), array())
{%- endmacro %}

{#- Lists: the elements for which `predicate` (over the element named `var`) is true; each element
    mapped through `expr`; the first element (null for none); the non-null elements joined by
    `separator`; whether `value` is an element. -#}
{% macro list_where(list, var, predicate) -%}
    {{ return(adapter.dispatch('list_where')(list, var, predicate)) }}
{%- endmacro %}

{% macro default__list_where(list, var, predicate) -%}
    list_filter({{ list }}, lambda {{ var }}: {{ predicate }})
{%- endmacro %}

{% macro spark__list_where(list, var, predicate) -%}
    filter({{ list }}, {{ var }} -> {{ predicate }})
{%- endmacro %}

{% macro list_map(list, var, expr) -%}
    {{ return(adapter.dispatch('list_map')(list, var, expr)) }}
{%- endmacro %}

{% macro default__list_map(list, var, expr) -%}
    list_transform({{ list }}, lambda {{ var }}: {{ expr }})
{%- endmacro %}

{% macro spark__list_map(list, var, expr) -%}
    transform({{ list }}, {{ var }} -> {{ expr }})
{%- endmacro %}

{#- The sum of a list's non-null numbers as `type`, added up as `accumulator`; null when it has none
    (DuckDB's list_sum). -#}
{% macro list_total(list, type='decimal(18, 2)', accumulator='decimal(38, 2)') -%}
    {{ return(adapter.dispatch('list_total')(list, type, accumulator)) }}
{%- endmacro %}

{% macro default__list_total(list, type, accumulator) -%}
    cast(list_sum({{ list }}) as {{ type }})
{%- endmacro %}

{% macro spark__list_total(list, type, accumulator) -%}
    case when exists({{ list }}, element -> element is not null) then
        aggregate({{ list }}, cast(0 as {{ accumulator }}),
                  (total, element) -> cast(total + coalesce(element, 0) as {{ accumulator }}),
                  total -> cast(total as {{ type }}))
    end
{%- endmacro %}

{#- A select of `columns` of `relation` once per element of the list `list` (none for a null list),
    with the element as `element` and its 1-based position as `position`. -#}
{% macro list_elements(relation, list, element, position, columns) -%}
    {{ return(adapter.dispatch('list_elements')(relation, list, element, position, columns)) }}
{%- endmacro %}

{% macro default__list_elements(relation, list, element, position, columns) -%}
    select {{ columns }}, unnest({{ list }}) as {{ element }}, generate_subscripts({{ list }}, 1) as {{ position }}
    from {{ relation }}
    where {{ list }} is not null
{%- endmacro %}

{% macro spark__list_elements(relation, list, element, position, columns) -%}
    select {{ columns }}, list_element as {{ element }}, list_position + 1 as {{ position }}
    from {{ relation }}
    lateral view posexplode({{ list }}) list_rows as list_position, list_element
{%- endmacro %}

{% macro list_first(list) -%}
    {{ return(adapter.dispatch('list_first')(list)) }}
{%- endmacro %}

{% macro default__list_first(list) -%}
    ({{ list }})[1]
{%- endmacro %}

{% macro spark__list_first(list) -%}
    try_element_at({{ list }}, 1)
{%- endmacro %}

{% macro list_join(list, separator) -%}
    {{ return(adapter.dispatch('list_join')(list, separator)) }}
{%- endmacro %}

{#- array_to_string leaves nulls out, as Spark's array_join does -#}
{% macro default__list_join(list, separator) -%}
    array_to_string({{ list }}, '{{ separator }}')
{%- endmacro %}

{% macro spark__list_join(list, separator) -%}
    array_join({{ list }}, '{{ separator }}')
{%- endmacro %}

{% macro list_has(list, value) -%}
    {{ return(adapter.dispatch('list_has')(list, value)) }}
{%- endmacro %}

{% macro default__list_has(list, value) -%}
    list_contains({{ list }}, {{ value }})
{%- endmacro %}

{% macro spark__list_has(list, value) -%}
    array_contains({{ list }}, {{ value }})
{%- endmacro %}

{#- True when the text is valid JSON (null for null). -#}
{% macro json_is_valid(expr) -%}
    {{ return(adapter.dispatch('json_is_valid')(expr)) }}
{%- endmacro %}

{% macro default__json_is_valid(expr) -%}
    json_valid({{ expr }})
{%- endmacro %}

{% macro spark__json_is_valid(expr) -%}
    case when {{ expr }} is not null then try_parse_json({{ expr }}) is not null end
{%- endmacro %}

{#- Every match of the regular expression `pattern` (its text, unquoted) replaced by `replacement`. -#}
{% macro regex_replace_all(expr, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace_all')(expr, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regex_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{#- Java writes a group in the replacement as `$1` (DuckDB `\1`), and a literal `$` as `\$`. -#}
{% macro spark__regex_replace_all(expr, pattern, replacement) -%}
    {%- set java = namespace(replacement=replacement.replace('$', '\\$')) -%}
    {%- for group in range(1, 10) -%}
        {%- set java.replacement = java.replacement.replace('\\' ~ group, '$' ~ group) -%}
    {%- endfor -%}
    regexp_replace({{ expr }}, '{{ java_pattern(pattern) }}', '{{ java.replacement }}')
{%- endmacro %}

{#- Java's `(?i)` folds ASCII letters only; `(?iu)` folds `Ä` and `ä` too, as DuckDB's `(?i)` does. -#}
{#- Nor does Java know POSIX classes such as `[:space:]` inside brackets: it would read them as the
    letters s, p, a, c, e and a colon. -#}
{% macro java_pattern(pattern) -%}
    {{- pattern.replace('(?i)', '(?iu)').replace('[:space:]', '\\s') -}}
{%- endmacro %}

{#- True when the whole text matches `pattern` (its text, unquoted). -#}
{% macro regex_full_match(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regex_full_match(expr, pattern) -%}
    regexp_full_match({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{#- `\z`, not `$`: in Java's expressions `$` also matches before a final line break. -#}
{% macro spark__regex_full_match(expr, pattern) -%}
    ({{ expr }} rlike '^(?:{{ java_pattern(pattern) }})\z')
{%- endmacro %}

{#- True when `pattern` (its text, unquoted) matches somewhere in the text. -#}
{% macro regex_contains(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_contains')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regex_contains(expr, pattern) -%}
    regexp_matches({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regex_contains(expr, pattern) -%}
    ({{ expr }} rlike '{{ java_pattern(pattern) }}')
{%- endmacro %}

{#- The `group`-th group of the first match of `pattern` (its text, unquoted); '' when none. -#}
{% macro regex_extract(expr, pattern, group) -%}
    {{ return(adapter.dispatch('regex_extract')(expr, pattern, group)) }}
{%- endmacro %}

{% macro default__regex_extract(expr, pattern, group) -%}
    regexp_extract({{ expr }}, '{{ pattern }}', {{ group }})
{%- endmacro %}

{% macro spark__regex_extract(expr, pattern, group) -%}
    regexp_extract({{ expr }}, '{{ java_pattern(pattern) }}', {{ group }})
{%- endmacro %}

{#- A calendar day written `YYYY-MM-DD` (DuckDB also takes `/` and a time after it) or the German
    `DD.MM.YYYY`; null when it cannot be read or does not exist (`1985-02-30`). -#}
{% macro parse_day(expr) -%}
    {{ return(adapter.dispatch('parse_day')(expr)) }}
{%- endmacro %}

{% macro default__parse_day(expr) -%}
    coalesce(try_cast(trim({{ expr }}) as date), try_strptime(trim({{ expr }}), '%d.%m.%Y')::date)
{%- endmacro %}

{#- Spark's own casts read `1990` as 1990-01-01 and two-digit years as this century: only the forms
    DuckDB reads are let through. -#}
{% macro spark__parse_day(expr) -%}
    case
        when trim({{ expr }}) rlike '^[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}(?:[ T].*)?\z'
            then try_to_date(replace(regexp_extract(trim({{ expr }}), '^([0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2})', 1), '/', '-'), 'yyyy-M-d')
        when trim({{ expr }}) rlike '^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}\z'
            then try_to_date(trim({{ expr }}), 'd.M.yyyy')
    end
{%- endmacro %}

{#- The calendar day an instant falls on in the time zone `zone` (an IANA name). -#}
{% macro local_day(expr, zone) -%}
    {{ return(adapter.dispatch('local_day')(expr, zone)) }}
{%- endmacro %}

{% macro default__local_day(expr, zone) -%}
    cast(timezone('{{ zone }}', {{ expr }}) as date)
{%- endmacro %}

{% macro spark__local_day(expr, zone) -%}
    to_date(from_utc_timestamp({{ expr }}, '{{ zone }}'))
{%- endmacro %}

{#- The texts of a group joined by `separator` in the order of `order_by`. -#}
{% macro string_agg_ordered(expr, separator, order_by) -%}
    {{ return(adapter.dispatch('string_agg_ordered')(expr, separator, order_by)) }}
{%- endmacro %}

{% macro default__string_agg_ordered(expr, separator, order_by) -%}
    string_agg({{ expr }}, '{{ separator }}' order by {{ order_by }})
{%- endmacro %}

{% macro spark__string_agg_ordered(expr, separator, order_by) -%}
    string_agg({{ expr }}, '{{ separator }}') within group (order by {{ order_by }})
{%- endmacro %}

{#- The distinct texts of a group (nulls left out) in text order, joined by `separator`. Spark's
    `string_agg(distinct ...)` fails beside other aggregates (a ClassCastException in its rewrite of
    distinct aggregates, Spark 4.3): a sorted set instead, '' where DuckDB gives null. -#}
{% macro distinct_texts_joined(expr, separator) -%}
    {{ return(adapter.dispatch('distinct_texts_joined')(expr, separator)) }}
{%- endmacro %}

{% macro default__distinct_texts_joined(expr, separator) -%}
    string_agg(distinct {{ expr }}, '{{ separator }}' order by {{ expr }})
{%- endmacro %}

{% macro spark__distinct_texts_joined(expr, separator) -%}
    array_join(array_sort(collect_set({{ expr }})), '{{ separator }}')
{%- endmacro %}

{#- A CTE computed once however often it is read: DuckDB's hint; Spark plans CTEs its own way. -#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%} materialized {%- endmacro %}

{% macro spark__materialized_cte() -%} {%- endmacro %}

{#- Type names: text, and an instant (a timestamp with time zone; Spark's `timestamp` is one, shown
    in the session's zone, UTC). -#}
{% macro type_text() -%}
    {{ return(adapter.dispatch('type_text')()) }}
{%- endmacro %}

{% macro default__type_text() -%} varchar {%- endmacro %}

{% macro spark__type_text() -%} string {%- endmacro %}

{% macro type_instant() -%}
    {{ return(adapter.dispatch('type_instant')()) }}
{%- endmacro %}

{% macro default__type_instant() -%} timestamptz {%- endmacro %}

{% macro spark__type_instant() -%} timestamp {%- endmacro %}

{#- Seconds since the epoch of an instant, with its fraction. -#}
{% macro epoch_seconds(expr) -%}
    {{ return(adapter.dispatch('epoch_seconds')(expr)) }}
{%- endmacro %}

{% macro default__epoch_seconds(expr) -%} epoch({{ expr }}) {%- endmacro %}

{% macro spark__epoch_seconds(expr) -%} unix_micros({{ expr }}) / 1000000.0 {%- endmacro %}

{#- An aggregate: `value` of the row whose `order_by` expressions (compared in turn) are greatest. -#}
{% macro value_of_greatest(value, order_by) -%}
    {{ return(adapter.dispatch('value_of_greatest')(value, order_by)) }}
{%- endmacro %}

{% macro default__value_of_greatest(value, order_by) -%}
    arg_max({{ value }}, struct_pack({% for e in order_by %}k{{ loop.index }} := {{ e }}{{ ", " if not loop.last }}{% endfor %}))
{%- endmacro %}

{% macro spark__value_of_greatest(value, order_by) -%}
    max_by({{ value }}, struct({{ order_by | join(", ") }}))
{%- endmacro %}

{#- An aggregate: `value` of the first row in `order_by` among the rows `where` holds for. Each term is an
    expression (ascending) or a timestamp followed by ` desc nulls last`. On Spark, `min_by` over a
    struct of the terms, a descending timestamp as (is null, minus its microseconds). -#}
{% macro first_ordered(value, order_by, where) -%}
    {{ return(adapter.dispatch('first_ordered')(value, order_by, where)) }}
{%- endmacro %}

{% macro default__first_ordered(value, order_by, where) -%}
    first({{ value }} order by {{ order_by | join(", ") }}) filter (where {{ where }})
{%- endmacro %}

{% macro spark__first_ordered(value, order_by, where) -%}
    {%- set keys = [] -%}
    {%- for term in order_by -%}
        {%- if term.endswith(' desc nulls last') -%}
            {%- set column = term[:-(' desc nulls last' | length)] -%}
            {%- do keys.extend([column ~ ' is null', '-unix_micros(' ~ column ~ ')']) -%}
        {%- else -%}
            {%- do keys.append(term) -%}
        {%- endif -%}
    {%- endfor -%}
    min_by({{ value }}, struct({{ keys | join(", ") }})) filter (where {{ where }})
{%- endmacro %}

{#- A set-returning select-list expression: every day from `first_day` to `last_day`, both included
    (timestamps on DuckDB, dates on Spark: cast the column it makes to a date). -#}
{% macro each_day(first_day, last_day) -%}
    {{ return(adapter.dispatch('each_day')(first_day, last_day)) }}
{%- endmacro %}

{% macro default__each_day(first_day, last_day) -%}
    unnest(generate_series(cast({{ first_day }} as timestamp), cast({{ last_day }} as timestamp), interval 1 day))
{%- endmacro %}

{% macro spark__each_day(first_day, last_day) -%}
    explode(sequence(cast({{ first_day }} as date), cast({{ last_day }} as date), interval 1 day))
{%- endmacro %}

{#- Every column of the relation but `columns` (`select {{ star_except(...) }} from ...`). -#}
{% macro star_except(columns, relation_alias=none) -%}
    {{ return(adapter.dispatch('star_except')(columns, relation_alias)) }}
{%- endmacro %}

{% macro default__star_except(columns, relation_alias) -%}
    {{ relation_alias ~ '.' if relation_alias }}* exclude ({{ columns | join(", ") }})
{%- endmacro %}

{% macro spark__star_except(columns, relation_alias) -%}
    {{ relation_alias ~ '.' if relation_alias }}* except ({{ columns | join(", ") }})
{%- endmacro %}

{#- A list of the comma-separated SQL expressions `items`. -#}
{% macro list_of(items) -%}
    {{ return(adapter.dispatch('list_of')(items)) }}
{%- endmacro %}

{% macro default__list_of(items) -%} [{{ items }}] {%- endmacro %}

{% macro spark__list_of(items) -%} array({{ items }}) {%- endmacro %}

{#- A string literal of `text`, which may hold an apostrophe: doubled on DuckDB; on Spark, whose
    session reads literals as written (`spark.sql.parser.escapedStringLiterals`), in double quotes. -#}
{% macro text_literal(text) -%}
    {{ return(adapter.dispatch('text_literal')(text)) }}
{%- endmacro %}

{% macro default__text_literal(text) -%} '{{ text.replace("'", "''") }}' {%- endmacro %}

{% macro spark__text_literal(text) -%} "{{ text }}" {%- endmacro %}

{#- Text from a template in DuckDB's `format` notation (`{}`, `{:.2f}`, `{:.3f}`) and the SQL expressions
    `args`; on Spark `format_string` with the same template in printf notation. -#}
{% macro format_text(template, args) -%}
    {{ return(adapter.dispatch('format_text')(template, args)) }}
{%- endmacro %}

{% macro default__format_text(template, args) -%}
    format('{{ template }}', {{ args | join(", ") }})
{%- endmacro %}

{% macro spark__format_text(template, args) -%}
    {#- Java's `%f` takes no Spark decimal, and `%s` writes a date as its day number: the arguments of
        `{:...f}` as doubles, of `{}` as text -#}
    {%- set pieces = template.split('{') -%}
    {%- set values = [] -%}
    {%- for arg in args -%}
        {%- set type = 'double' if pieces[loop.index].startswith(':') else 'string' -%}
        {%- do values.append('cast(' ~ arg ~ ' as ' ~ type ~ ')') -%}
    {%- endfor -%}
    {%- set printf = template.replace("%", "%%").replace("{:.2f}", "%.2f").replace("{:.3f}", "%.3f")
                             .replace("{}", "%s") %}
    format_string('{{ printf }}', {{ values | join(", ") }})
{%- endmacro %}

{#- An integer type wide enough for cents x thousandths (DuckDB's 128-bit `hugeint`; Spark has no
    128-bit integer, and its `div` of decimals returns a 64-bit `long`: enough below 9.2e18). -#}
{% macro type_wide_integer() -%}
    {{ return(adapter.dispatch('type_wide_integer')()) }}
{%- endmacro %}

{% macro default__type_wide_integer() -%} hugeint {%- endmacro %}

{% macro spark__type_wide_integer() -%} decimal(38, 0) {%- endmacro %}

{#- The integer quotient of two non-negative integers, rounded down. -#}
{% macro integer_quotient(numerator, denominator) -%}
    {{ return(adapter.dispatch('integer_quotient')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__integer_quotient(numerator, denominator) -%} (({{ numerator }}) // ({{ denominator }})) {%- endmacro %}

{% macro spark__integer_quotient(numerator, denominator) -%} (({{ numerator }}) div ({{ denominator }})) {%- endmacro %}

{#- Whole days from the date `start` to the date `end` (DuckDB's `end - start`; on Spark that is an
    interval, not a number). -#}
{% macro days_between(start, end) -%}
    {{ return(adapter.dispatch('days_between')(start, end)) }}
{%- endmacro %}

{% macro default__days_between(start, end) -%} ({{ end }} - {{ start }}) {%- endmacro %}

{% macro spark__days_between(start, end) -%} datediff({{ end }}, {{ start }}) {%- endmacro %}
