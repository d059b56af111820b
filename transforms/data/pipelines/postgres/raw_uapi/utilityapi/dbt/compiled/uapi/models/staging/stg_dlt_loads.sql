with

source as (
    select
        "load_id" as "load_id",
        "status" as "status",
        "inserted_at" as "inserted_at"
    from "uapi"."raw_uapi"."_dlt_loads"

),

final as (
    select
        load_id,
        cast(status as integer) as status,
        cast(inserted_at as timestamp with time zone) as loaded_at
    from source
)

select * from final