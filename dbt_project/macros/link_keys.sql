{#- Cross-system link keys written by people into free-text fields. -#}

{#- The ERP customer number `K-100234` in shop tags (`erp:K-100234`) or an accounting note
    (`ERP K-100234`); upper case; null when none. -#}
{% macro extract_erp_customer_ref(expr, prefix_pattern='erp[[:space:]:]*') -%}
    nullif(upper({{ regex_extract(expr, '(?i)' ~ prefix_pattern ~ '(k-?[0-9]+)', 1) }}), '')
{%- endmacro %}

{#- A shop order number in an ERP `client_order_ref`: `#1042`, `1042`, `Shop 1042`, `Webshop #1042`. -#}
{% macro shop_order_number_from_ref(expr) -%}
    {%- set order_number -%} (?i)^\s*(?:(?:web)?shop)?[\s:#\-]*(?:nr\.?\s*)?#?\s*([0-9]+)\s*$ {%- endset -%}
    try_cast(nullif({{ regex_extract(expr, order_number, 1) }}, '') as bigint)
{%- endmacro %}

{#- A shop order number named in free text: `Bestellung #1042`, `Bestellung 1042, Lieferung fehlt`,
    `Bestellnr. 1042`, `Best.-Nr. 1042`, `Order #1042`, `Shop 1042`, `#1042`. A bare number without
    such a word is not taken (it may be a postcode, a date or a phone number). -#}
{% macro shop_order_number_from_text(expr) -%}
    {%- set named_order_number -%}
        (?i)(?:#|\b(?:bestellung|bestellnummer|bestellnr|best\.?\s*-?\s*nr|order|shop|webshop)\b\.?)\s*(?:nr\.?|nummer|no\.?)?\s*[:#]?\s*([0-9]{3,})\b
    {%- endset -%}
    try_cast(nullif({{ regex_extract(expr, named_order_number, 1) }}, '') as bigint)
{%- endmacro %}

{#- An ERP order name (`S00042`) in free text such as `Auftrag S00042`. -#}
{% macro erp_order_name_from_text(expr) -%}
    {%- set erp_order_name -%} (?i)\b(s[0-9]{4,})\b {%- endset -%}
    nullif(upper({{ regex_extract(expr, erp_order_name, 1) }}), '')
{%- endmacro %}
