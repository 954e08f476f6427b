{#- Shop records come in two shapes (docs/source_protocol.md, A1): GraphQL Admin API nodes (camelCase,
    `gid://shopify/<Type>/<n>` ids, money bags), which the connector lands, and the REST/webhook shape
    (snake_case, numeric ids) of raws landed before and of REST exports. Staging reads both: each field
    is the GraphQL path, else the REST path. -#}

{#- The raw text at the GraphQL path, else at the REST path. -#}
{% macro shop_json(graphql_path, rest_path, column='record') -%}
    coalesce({{ json_get(column, graphql_path) }}, {{ json_get(column, rest_path) }})
{%- endmacro %}

{#- As json_text: clean text of the GraphQL path, else of the REST path. -#}
{% macro shop_text(graphql_path, rest_path, column='record') -%}
    {{ clean_text(shop_json(graphql_path, rest_path, column)) }}
{%- endmacro %}

{#- An id of either shape as bigint: the numeric tail of a `gid://shopify/<Type>/<n>` global id (= the
    REST id, = `legacyResourceId`), or a REST integer id. -#}
{% macro shop_id(expr) -%}
    {%- set trimmed = 'trim(' ~ expr ~ ')' -%}
    case
        when {{ regex_full_match(trimmed, 'gid://shopify/[A-Za-z]+/[0-9]+') }}
            then {{ to_id(regex_extract(trimmed, '[0-9]+$', 0)) }}
        else {{ to_id(expr) }}
    end
{%- endmacro %}

{#- An amount in the shop's currency: `<bag>.shopMoney.amount` of a GraphQL money bag, else the REST field. -#}
{% macro shop_money(bag, rest_path, column='record') -%}
    {{ to_money(shop_json(bag ~ '.shopMoney.amount', rest_path, column)) }}
{%- endmacro %}

{#- The elements of a nested list: a GraphQL connection's `nodes`, a GraphQL list, or a REST array. -#}
{% macro shop_list(graphql_path, rest_path, column='record', connection=true) -%}
    {%- set gql = graphql_path ~ ('.nodes' if connection else '') -%}
    case
        when {{ json_kind(column, gql) }} = 'ARRAY' then {{ json_list(column, gql) }}
        when {{ json_kind(column, rest_path) }} = 'ARRAY' then {{ json_list(column, rest_path) }}
    end
{%- endmacro %}
