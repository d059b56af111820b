-- depends_on: "uapi"."analytics"."stg_interval_objects"

with

pending_loads as (
    select load_id from "uapi"."analytics"."int_loads_pending"
),

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

-- raw rows, not the staging view: a duplicate changes no date range, and reading the load id
-- first keeps this cheap
pending_readings as (
    select readings.*
    from raw_readings as readings
    inner join pending_loads
        on readings._dlt_load_id = pending_loads.load_id
),

-- ranges first, per published offset: few rows to turn into local dates
pending_ranges as (
    select
        meter_uid,
        utc_offset_minutes,
        end_utc_offset_minutes,
        min(start_at) as first_start_at,
        max(end_at) as last_end_at
    from pending_readings
    group by meter_uid, utc_offset_minutes, end_utc_offset_minutes
),

new_readings as (
    select
        meter_uid,
        min(cast(
            (cast(first_start_at at time zone 'UTC' as timestamp) + (utc_offset_minutes) * interval '1 minute')
            as date
        )) as first_local_date,
        -- readings end on the 15-minute grid: a minute before the end is still inside
        max(cast(
            (cast(last_end_at at time zone 'UTC' as timestamp) + (end_utc_offset_minutes - 1) * interval '1 minute')
            as date
        )) as last_local_date
    from pending_ranges
    group by meter_uid
),


pending_reading_objects as (
    select distinct interval_uid from pending_readings
),

-- an Interval object's notes flag the slots it wins: one loaded without its readings (its
-- notes changed, or the table is new) changes the days it spans (in UTC dates, a day wider)
new_objects as (
    select
        objects.meter_uid,
        min(cast(cast(objects.first_start_at at time zone 'UTC' as timestamp) as date)) as first_utc_date,
        max(cast(cast(objects.last_end_at at time zone 'UTC' as timestamp) as date)) as last_utc_date
    from "uapi"."analytics"."stg_interval_objects" as objects
    inner join pending_loads
        on objects._dlt_load_id = pending_loads.load_id
    left join pending_reading_objects
        on objects.interval_uid = pending_reading_objects.interval_uid
    where pending_reading_objects.interval_uid is null
    group by objects.meter_uid
),



known_days as (
    select
        meter_uid,
        min(local_date) as first_local_date,
        max(local_date) as last_local_date,
        max(time_zone) as time_zone
    from "uapi"."analytics"."meter_daily_usage"
    group by meter_uid
),


zones as (
    select meter_uid, time_zone from "uapi"."analytics"."meter_time_zones"
),


-- a meter whose time zone changed (its utility became known, the table of zones grew) is
-- recomputed whole: every row of it carries the zone
rezoned_meters as (
    select
        known_days.meter_uid,
        known_days.first_local_date,
        known_days.last_local_date
    from known_days
    inner join zones
        on known_days.meter_uid = zones.meter_uid
    -- null-safe: no zone before, one now, counts as a change
    where coalesce(known_days.time_zone, '') <> coalesce(zones.time_zone, '')
),


readings_scope as (
    select
        new_readings.meter_uid,
        least(
            (new_readings.first_local_date + (-2)),
            coalesce(known_days.last_local_date, (new_readings.first_local_date + (-2)))
        ) as from_local_date,
        greatest(
            (new_readings.last_local_date + (1)),
            coalesce(known_days.first_local_date, (new_readings.last_local_date + (1)))
        ) as to_local_date
    from new_readings
    left join known_days
        on new_readings.meter_uid = known_days.meter_uid
),

ranges as (
    select meter_uid, from_local_date, to_local_date from readings_scope
    union all
    select
        meter_uid,
        (first_utc_date + (-1)) as from_local_date,
        (last_utc_date + (1)) as to_local_date
    from new_objects
    union all
    select meter_uid, first_local_date, last_local_date from rezoned_meters
),

final as (
    select
        meter_uid,
        min(from_local_date) as from_local_date,
        max(to_local_date) as to_local_date
    from ranges
    group by meter_uid
)

select * from final