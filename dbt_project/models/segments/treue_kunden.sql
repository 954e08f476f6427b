{#- Activation list: treuer Kunde. One row per customer in the segment, with why (`why`) and the values
    behind it. Channel: email (only customers whose consent allows e-mail marketing). -#}
{{ business_segment('treue_kunden', 'treuer Kunde', 'email') }}
