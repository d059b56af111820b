{#- The meter-days this run recomputes. A reading lasts at most 25 hours, so the readings that
    overlap a new one start at most two local days before it: the range is widened by two days
    before and one after. When new readings lie past a meter's known series (or before it) the
    days in between are added too: their gap rows change. -#}
{%- set known = existing_analytics_relation('meter_daily_usage') -%}
{#- on a full build every meter is in scope whole: objects and zones add nothing -#}
{%- set is_increment = known is not none and not flags.FULL_REFRESH -%}

-- depends_on: {{ ref('stg_interval_objects') }}

with

pending_loads as (
    select load_id from {{ ref('int_loads_pending') }}
),

raw_readings as (
    {{ select_from_source('utilityapi', 'interval_readings') }}
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
            {{ add_minutes(utc_wall_clock('first_start_at'), 'utc_offset_minutes') }}
            as date
        )) as first_local_date,
        -- readings end on the 15-minute grid: a minute before the end is still inside
        max(cast(
            {{ add_minutes(utc_wall_clock('last_end_at'), 'end_utc_offset_minutes - 1') }}
            as date
        )) as last_local_date
    from pending_ranges
    group by meter_uid
),

{% if is_increment %}
pending_reading_objects as (
    select distinct interval_uid from pending_readings
),

-- an Interval object's notes flag the slots it wins: one loaded without its readings (its
-- notes changed, or the table is new) changes the days it spans (in UTC dates, a day wider)
new_objects as (
    select
        objects.meter_uid,
        min(cast({{ utc_wall_clock('objects.first_start_at') }} as date)) as first_utc_date,
        max(cast({{ utc_wall_clock('objects.last_end_at') }} as date)) as last_utc_date
    from {{ ref('stg_interval_objects') }} as objects
    inner join pending_loads
        on objects._dlt_load_id = pending_loads.load_id
    left join pending_reading_objects
        on objects.interval_uid = pending_reading_objects.interval_uid
    where pending_reading_objects.interval_uid is null
    group by objects.meter_uid
),
{% else %}
new_objects as (
    select
        cast(null as {{ dbt.type_string() }}) as meter_uid,
        cast(null as date) as first_utc_date,
        cast(null as date) as last_utc_date
    where 1 = 0
),
{% endif %}

{% if is_increment %}
known_days as (
    select
        meter_uid,
        min(local_date) as first_local_date,
        max(local_date) as last_local_date,
        max(time_zone) as time_zone
    from {{ known }}
    group by meter_uid
),
{% else %}
known_days as (
    select
        cast(null as {{ dbt.type_string() }}) as meter_uid,
        cast(null as date) as first_local_date,
        cast(null as date) as last_local_date,
        cast(null as {{ dbt.type_string() }}) as time_zone
    where 1 = 0
),
{% endif %}

zones as (
    select meter_uid, time_zone from {{ ref('meter_time_zones') }}
),

{% if is_increment %}
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
{% else %}
rezoned_meters as (
    select * from known_days where 1 = 0
),
{% endif %}

readings_scope as (
    select
        new_readings.meter_uid,
        least(
            {{ add_days('new_readings.first_local_date', -2) }},
            coalesce(known_days.last_local_date, {{ add_days('new_readings.first_local_date', -2) }})
        ) as from_local_date,
        greatest(
            {{ add_days('new_readings.last_local_date', 1) }},
            coalesce(known_days.first_local_date, {{ add_days('new_readings.last_local_date', 1) }})
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
        {{ add_days('first_utc_date', -1) }} as from_local_date,
        {{ add_days('last_utc_date', 1) }} as to_local_date
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
