{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='meter_uid',
        on_schema_change='fail',
    )
}}

{#- Every reading of a meter is checked, so a full build reads the whole raw table. An
    incremental run recomputes only the meters whose row can have changed: those with readings
    in the run's loads, and those whose utility or zone is not the one earlier runs checked
    against (or that have no row yet); every other meter's readings were checked as they are.
    Its cost then follows what was loaded, not the table's history. -#}

-- depends_on: {{ ref('int_loads_pending') }}

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

{% if is_incremental() %}
pending_loads as (
    select load_id from {{ ref('int_loads_pending') }}
),

changed_meters as (
    select readings.meter_uid
    from ({{ select_from_source('utilityapi', 'interval_readings') }}) as readings
    inner join pending_loads
        on readings._dlt_load_id = pending_loads.load_id
    union
    select zoned_meters.meter_uid
    from zoned_meters
    left join {{ this }} as checked_before
        on zoned_meters.meter_uid = checked_before.meter_uid
    where checked_before.meter_uid is null
        or coalesce(checked_before.utility, '') <> coalesce(zoned_meters.utility, '')
        or coalesce(checked_before.time_zone, '') <> coalesce(zoned_meters.time_zone, '')
),

{% endif %}
raw_readings as (
    select *
    from ({{ select_from_source('utilityapi', 'interval_readings') }}) as raw_readings
    {% if is_incremental() %}
    where meter_uid in (select meter_uid from changed_meters)
    {% endif %}
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
    {% if is_incremental() %}
    where zoned_meters.meter_uid in (select meter_uid from changed_meters)
    {% endif %}
)

select * from final
