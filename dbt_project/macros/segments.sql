{#- Settings and helpers of the segments (models/segments). Every threshold is a dbt var with the
    default of ../shared/DOMAIN.md, so a team can configure it (`dbt build --vars '{...}'`). -#}

{% macro segment_setting(name) -%}
    {%- set defaults = {
        'segment_abc_a_share': 0.80,
        'segment_abc_b_share': 0.95,
        'segment_p_alive_threshold': 0.5,
        'segment_low_revenue_max_m': 2,
        'segment_bad_nps_max': 6,
        'segment_bad_experience_days': 30,
    } -%}
    {{ var(name, defaults[name]) }}
{%- endmacro %}

{#- One activation table per business segment: the customers in it, why, and the e-mail consent.
    An e-mail segment (`is_email_segment`) only includes customers whose consent allows e-mail
    marketing; the other segments are worked by phone or are suppression lists and carry the flag.
    A marketing list (e-mail or phone) leaves out customers who objected to direct marketing
    (has_marketing_objection); a suppression list (channel none) keeps them. -#}
{% macro business_segment(flag, label, channel) -%}
{%- set is_email = channel == 'email' -%}
select
    golden_customer_id,
    '{{ flag }}' as segment,
    '{{ label }}' as segment_label,
    '{{ channel }}' as activation_channel,
    {{ 'true' if is_email else 'false' }} as is_email_segment,
    why_{{ flag }} as why,
    first_name,
    last_name,
    company_name,
    email,
    phone,
    email_marketing_allowed,
    rfm_segment,
    r_score,
    f_score,
    m_score,
    rfm_score,
    abc_class,
    days_since_last_order,
    orders_24m,
    net_revenue_24m,
    net_revenue_12m,
    margin_clv,
    is_profitable,
    p_alive,
    last_csat_rating,
    last_nps_score,
    last_bad_rating_date,
    as_of_date
from {{ ref('customer_segments') }}
where is_{{ flag }}
  and not is_deleted
  {%- if channel != 'none' %}
  and not has_marketing_objection
  {%- endif %}
  {%- if is_email %}
  and email_marketing_allowed
  {%- endif %}
{%- endmacro %}
