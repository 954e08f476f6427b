{#- Pairs of customer records that are certainly linked, each with the rule that links them:

    - `erp_ref_in_shop_tags`: a shop customer's tag `erp:K-…` names an ERP partner's `ref`;
    - `erp_ref_in_accounting_note`: an accounting contact's note `ERP K-…` names an ERP partner's `ref`;
    - `helpdesk_external_id`: a helpdesk user's `external_id` is a shop customer id;
    - `shop_order_in_erp_order`: an ERP sale order's `client_order_ref` names a shop order;
    - `order_in_voucher_remark`: an invoice's `remark` names a shop order or an ERP order, and the
      invoice is booked on a contact (not on the collective contact);
    - `order_in_ticket`: a ticket's order field names a shop order or an ERP order.

    Each pair joins two records of different systems; `record_key_l < record_key_r`, one row per
    pair and rule. The guards in `identity.guards` still veto a pair whose first names or
    birthdays conflict (an agent may type a wrong order number). -#}

with

records as {{ materialized_cte() }} (

    select record_key, source_system, source_record_id, shop_customer_id, erp_partner_id,
           erp_customer_ref, helpdesk_user_id, accounting_contact_id, is_collective_contact
    from {{ ref('int_customer_records') }}

),

shop_customers as (select * from records where source_system = 'shop'),
erp_partners as (select * from records where source_system = 'erp'),
helpdesk_users as (select * from records where source_system = 'helpdesk'),
accounting_contacts as (select * from records where source_system = 'accounting' and not is_collective_contact),

-- order number -> the customer record that placed it
shop_order_owner as {{ materialized_cte() }} (

    select o.order_number, c.record_key
    from {{ ref('stg_shop__orders') }} o
    join shop_customers c on c.shop_customer_id = o.customer_id
    where o.order_number is not null

),

erp_order_owner as {{ materialized_cte() }} (

    select o.order_name, o.shop_order_number, p.record_key
    from {{ ref('stg_erp__sale_orders') }} o
    join erp_partners p on p.erp_partner_id = o.partner_id

),

-- order references typed into invoices and tickets, with the record they are booked on
voucher_refs as {{ materialized_cte() }} (

    select a.record_key, v.shop_order_number, v.erp_order_name
    from {{ ref('stg_accounting__vouchers') }} v
    join accounting_contacts a on a.accounting_contact_id = v.contact_id
    where v.shop_order_number is not null or v.erp_order_name is not null

),

ticket_refs as {{ materialized_cte() }} (

    select h.record_key, t.order_number, t.erp_order_name
    from {{ ref('stg_helpdesk__tickets') }} t
    join helpdesk_users h on h.helpdesk_user_id = t.requester_id
    where t.order_number is not null or t.erp_order_name is not null

),

pairs as (

    select s.record_key as a, e.record_key as b, 'erp_ref_in_shop_tags' as link_rule, s.erp_customer_ref as evidence
    from shop_customers s join erp_partners e on e.erp_customer_ref = s.erp_customer_ref

    union all
    select a.record_key, e.record_key, 'erp_ref_in_accounting_note', a.erp_customer_ref
    from accounting_contacts a join erp_partners e on e.erp_customer_ref = a.erp_customer_ref

    union all
    select h.record_key, s.record_key, 'helpdesk_external_id', cast(h.shop_customer_id as {{ type_text() }})
    from helpdesk_users h join shop_customers s on s.shop_customer_id = h.shop_customer_id

    union all
    select so.record_key, eo.record_key, 'shop_order_in_erp_order', '#' || so.order_number
    from erp_order_owner eo join shop_order_owner so on so.order_number = eo.shop_order_number
    where eo.shop_order_number is not null

    union all
    select v.record_key, so.record_key, 'order_in_voucher_remark', '#' || so.order_number
    from voucher_refs v
    join shop_order_owner so on so.order_number = v.shop_order_number

    union all
    select v.record_key, eo.record_key, 'order_in_voucher_remark', eo.order_name
    from voucher_refs v
    join erp_order_owner eo on eo.order_name = v.erp_order_name

    union all
    select t.record_key, so.record_key, 'order_in_ticket', '#' || so.order_number
    from ticket_refs t
    join shop_order_owner so on so.order_number = t.order_number

    union all
    select t.record_key, eo.record_key, 'order_in_ticket', eo.order_name
    from ticket_refs t
    join erp_order_owner eo on eo.order_name = t.erp_order_name

)

select
    least(a, b) as record_key_l,
    greatest(a, b) as record_key_r,
    link_rule,
    min(evidence) as evidence,
    count(*) as evidence_count
from pairs
where a <> b
group by all
