{#- Activation list: abwanderungsgefährdet. One row per customer in the segment, with why (`why`) and the values
    behind it. Channel: email (only customers whose consent allows e-mail marketing). -#}
{{ business_segment('abwanderungsgefaehrdet', 'abwanderungsgefährdet', 'email') }}
