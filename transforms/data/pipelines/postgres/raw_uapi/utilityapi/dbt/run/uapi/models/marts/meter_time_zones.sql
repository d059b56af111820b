
  
    

  create  table "uapi"."analytics"."meter_time_zones__dbt_tmp"
  
  
    as
  
  (
    

with

meters as (
    select * from "uapi"."analytics"."int_meter_utilities"
),

zones as (
    select utility_id, time_zone from "uapi"."analytics"."utility_time_zones"
),

zoned_meters as (
    select
        meters.meter_uid,
        meters.utility,
        zones.time_zone
    from meters
    left join zones
        on meters.utility = zones.utility_id
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

-- each published reading once (not per datapoint, not per duplicate), counted per UTC hour:
-- zones change offset on the hour, so one check per hour and published offset covers all
-- the readings in it
published_offsets as (
    select
        meter_uid,
        date_trunc('hour', cast(start_at at time zone 'UTC' as timestamp)) as hour_utc,
        utc_offset_minutes,
        count(distinct start_at) as readings
    from raw_readings
    group by 1, 2, 3
),

checked as (
    select
        published_offsets.meter_uid,
        sum(published_offsets.readings) as readings_checked,
        sum(
            case
                when published_offsets.utc_offset_minutes
                    <> cast(round((
        extract(epoch from cast((published_offsets.hour_utc at time zone 'UTC') at time zone zoned_meters.time_zone as timestamp))
        - extract(epoch from cast((published_offsets.hour_utc at time zone 'UTC') at time zone 'UTC' as timestamp))
    ) / 60) as integer)
                    then published_offsets.readings
                else 0
            end
        ) as offset_mismatches
    from published_offsets
    inner join zoned_meters
        on published_offsets.meter_uid = zoned_meters.meter_uid
    where zoned_meters.time_zone is not null
    group by published_offsets.meter_uid
),

final as (
    select
        zoned_meters.meter_uid,
        zoned_meters.utility,
        zoned_meters.time_zone,
        case
            when zoned_meters.time_zone is null then 'unknown_utility'
            when coalesce(checked.offset_mismatches, 0) > 0 then 'offset_mismatch'
            else 'ok'
        end as time_zone_status,
        coalesce(checked.readings_checked, 0) as readings_checked,
        coalesce(checked.offset_mismatches, 0) as offset_mismatches
    from zoned_meters
    left join checked
        on zoned_meters.meter_uid = checked.meter_uid
)

select * from final
  );
  