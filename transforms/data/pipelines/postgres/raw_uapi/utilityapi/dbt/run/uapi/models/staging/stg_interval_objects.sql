
  create view "uapi"."analytics"."stg_interval_objects__dbt_tmp"
    
    
  as (
    with

source as (
    select
        "uid" as "uid",
        "meter_uid" as "meter_uid",
        "updated_at" as "updated_at",
        "note_types" as "note_types",
        "first_start_at" as "first_start_at",
        "last_end_at" as "last_end_at",
        "_dlt_load_id" as "_dlt_load_id"
    from "uapi"."raw_uapi"."interval_objects"

),

final as (
    select
        uid as interval_uid,
        meter_uid,
        cast(updated_at as timestamp with time zone) as interval_updated_at,
        -- '' means no notes: null reads better in the marts
        nullif(note_types, '') as note_types,
        cast(first_start_at as timestamp with time zone) as first_start_at,
        cast(last_end_at as timestamp with time zone) as last_end_at,
        _dlt_load_id
    from source
)

select * from final
  );