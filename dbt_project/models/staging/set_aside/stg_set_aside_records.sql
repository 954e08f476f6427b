{#- The landed records that staging set aside, one row each with its reason (macros/set_aside.sql). -#}

select source_system, source_table, source_record_id, reason, loaded_at
from {{ ref('stg_record_checks') }}
where reason is not null
