{#- Activation list: nach schlechter Erfahrung. One row per customer in the segment, with why (`why`) and the values
    behind it. Channel: phone. -#}
{{ business_segment('nach_schlechter_erfahrung', 'nach schlechter Erfahrung', 'phone') }}
