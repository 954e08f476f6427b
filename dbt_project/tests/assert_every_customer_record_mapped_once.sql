{#- Every customer record of int_customer_records is in the crosswalk exactly once, no crosswalk row lacks its record, and every
    golden customer's record count adds up to its crosswalk rows. Returns the offending rows. -#}
with mapped as (
    select record_key, count(*) as n
    from {{ source('identity_resolution', 'golden_customer_sources') }}
    group by record_key
)
select r.record_key, coalesce(m.n, 0) as times_mapped
from {{ ref('int_customer_records') }} r
left join mapped m using (record_key)
where coalesce(m.n, 0) <> 1
union all
-- no crosswalk row without its record
select x.record_key, -1
from {{ source('identity_resolution', 'golden_customer_sources') }} x
left join {{ ref('int_customer_records') }} r using (record_key)
where r.record_key is null
union all
select g.golden_customer_id, g.source_records
from {{ ref('golden_customers') }} g
left join (
    select golden_customer_id, count(*) as n
    from {{ source('identity_resolution', 'golden_customer_sources') }}
    group by golden_customer_id
) x using (golden_customer_id)
where g.source_records <> coalesce(x.n, 0)
