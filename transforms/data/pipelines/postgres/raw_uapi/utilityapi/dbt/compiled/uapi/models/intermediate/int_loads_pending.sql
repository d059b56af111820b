with

completed_loads as (
    select load_id, loaded_at
    from "uapi"."analytics"."stg_dlt_loads"
    where status = 0
),


processed_loads as (
    select load_id from "uapi"."analytics"."int_loads_processed"
),


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