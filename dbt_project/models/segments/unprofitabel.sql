{#- Activation list: unprofitabel. One row per customer in the segment, with why (`why`) and the values
    behind it. Channel: none. -#}
{{ business_segment('unprofitabel', 'unprofitabel', 'none') }}
