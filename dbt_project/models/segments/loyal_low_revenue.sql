{#- Activation list: loyal low revenue. One row per customer in the segment, with why (`why`) and the values
    behind it. Channel: email (only customers whose consent allows e-mail marketing). -#}
{{ business_segment('loyal_low_revenue', 'loyal low revenue', 'email') }}
