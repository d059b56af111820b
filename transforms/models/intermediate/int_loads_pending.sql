{#- Built first in every run: the loads whose rows this run takes in. A snapshot, so a load
    committed while the run goes on is left for the next run rather than marked processed. -#}
{%- set processed = existing_analytics_relation('int_loads_processed') -%}

with

completed_loads as (
    select load_id, loaded_at
    from {{ ref('stg_dlt_loads') }}
    where status = 0
),

{% if processed is not none and not flags.FULL_REFRESH %}
processed_loads as (
    select load_id from {{ processed }}
),
{% else %}
processed_loads as (
    select cast(null as {{ dbt.type_string() }}) as load_id
    where 1 = 0
),
{% endif %}

final as (
    select
        completed_loads.load_id,
        completed_loads.loaded_at
    from completed_loads
    left join processed_loads
        on completed_loads.load_id = processed_loads.load_id
    where processed_loads.load_id is null
)

select * from final
