{{ config(materialized='table') }}

with

meters as (
    select * from {{ ref('int_meter_utilities') }}
),

zones as (
    select utility_id, time_zone from {{ ref('utility_time_zones') }}
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
    {{ select_from_source('utilityapi', 'interval_readings') }}
),

-- each published reading once (not per datapoint, not per duplicate), counted per UTC hour:
-- zones change offset on the hour, so one check per hour and published offset covers all
-- the readings in it
published_offsets as (
    select
        meter_uid,
        {{ dbt.date_trunc('hour', utc_wall_clock('start_at')) }} as hour_utc,
        utc_offset_minutes,
        count(distinct start_at) as readings
    from raw_readings
    group by 1, 2, 3
),

checked as (
    select
        published_offsets.meter_uid,
        cast(sum(published_offsets.readings) as {{ dbt.type_bigint() }}) as readings_checked,
        cast(sum(
            case
                when published_offsets.utc_offset_minutes
                    <> {{ zone_offset_minutes(zone_instant('published_offsets.hour_utc', "'UTC'"),
                        'zoned_meters.time_zone') }}
                    then published_offsets.readings
                else 0
            end
        ) as {{ dbt.type_bigint() }}) as offset_mismatches
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
