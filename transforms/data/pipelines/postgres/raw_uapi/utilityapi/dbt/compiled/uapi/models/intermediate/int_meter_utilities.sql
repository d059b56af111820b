with

meters as (
    select meter_uid, utility from "uapi"."analytics"."stg_meters"
),

-- the raw table, not the staging view: a duplicate changes no list of meters
raw_readings as (
    select
        "meter_uid" as "meter_uid",
        "authorization_uid" as "authorization_uid",
        "interval_uid" as "interval_uid",
        "start_at" as "start_at",
        "end_at" as "end_at",
        "utc_offset_minutes" as "utc_offset_minutes",
        "end_utc_offset_minutes" as "end_utc_offset_minutes",
        "type" as "type",
        "unit" as "unit",
        "value" as "value",
        "meter_number" as "meter_number",
        "interval_updated_at" as "interval_updated_at",
        "interval_created_at" as "interval_created_at",
        "_dlt_load_id" as "_dlt_load_id"
    from "uapi"."raw_uapi"."interval_readings"

),

meters_with_readings as (
    select distinct meter_uid from raw_readings
),

final as (
    select
        coalesce(meters.meter_uid, meters_with_readings.meter_uid) as meter_uid,
        meters.utility
    from meters
    full outer join meters_with_readings
        on meters.meter_uid = meters_with_readings.meter_uid
)

select * from final