{{
    config(
        materialized='incremental',
        incremental_strategy='meter_days',
        on_schema_change='fail',
    )
}}

-- meter_intervals' rows for readings longer than 15 minutes (hourly data, hourly fill-ins): the
-- whole reading where it won all its slots, else a 15-minute piece for each slot it won. The
-- 15-minute readings are the grid's own rows: meter_intervals reads them there

with

-- the slots of readings longer than 15 minutes that start in scope (readings last at most 25
-- hours), read back from the 15-minute grid, which holds every resolved slot besides its gaps
longer_reading_slots as {{ inline_cte() }} (
    select
        meter_uid,
        channel,
        interval_start_at,
        interval_start_local,
        local_date,
        utc_offset_minutes,
        quantity,
        unit,
        demand_kw,
        source_duration_minutes,
        interval_uid,
        reading_start_at,
        interval_updated_at,
        quality_note_types
    from {{ ref('meter_intervals_15min') }}
    where source_duration_minutes > 15
        and {{ in_meter_day_scope('meter_uid', 'local_date', days_before=2, days_after=2) }}
),

-- each reading with what it won: all its slots, or only some where finer readings won the rest
readings as (
    select
        meter_uid,
        channel,
        interval_uid,
        reading_start_at,
        count(*) as won_slot_count,
        min(interval_start_local) as interval_start_local,
        min(local_date) as local_date,
        max(utc_offset_minutes) as utc_offset_minutes,
        sum(quantity) as quantity,
        max(unit) as unit,
        max(demand_kw) as demand_kw,
        max(source_duration_minutes) as source_duration_minutes,
        max(interval_updated_at) as interval_updated_at,
        max(quality_note_types) as quality_note_types
    from longer_reading_slots
    group by meter_uid, channel, interval_uid, reading_start_at
),

whole_readings as (
    select
        meter_uid,
        channel,
        reading_start_at as interval_start_at,
        interval_start_local,
        local_date,
        utc_offset_minutes,
        source_duration_minutes as duration_minutes,
        quantity,
        unit,
        demand_kw,
        false as is_partial,
        source_duration_minutes,
        interval_uid,
        interval_updated_at,
        quality_note_types
    from readings
    where won_slot_count * 15 = source_duration_minutes
),

-- the uncovered slots of a longer reading keep their even share of it; the shares of the
-- covered slots are dropped, because the finer readings there are the better measurement
partial_readings as (
    select
        slots.meter_uid,
        slots.channel,
        slots.interval_start_at,
        slots.interval_start_local,
        slots.local_date,
        slots.utc_offset_minutes,
        15 as duration_minutes,
        slots.quantity,
        slots.unit,
        slots.demand_kw,
        true as is_partial,
        slots.source_duration_minutes,
        slots.interval_uid,
        slots.interval_updated_at,
        slots.quality_note_types
    from longer_reading_slots as slots
    inner join readings
        on slots.meter_uid = readings.meter_uid
        and slots.channel = readings.channel
        and slots.interval_uid = readings.interval_uid
        and slots.reading_start_at = readings.reading_start_at
    where readings.won_slot_count * 15 <> readings.source_duration_minutes
),

intervals as (
    select * from whole_readings
    union all
    select * from partial_readings
),

intervals_in_scope as (
    select *
    from intervals
    where {{ in_meter_day_scope('meter_uid', 'local_date') }}
),

final as (
    select
        intervals_in_scope.meter_uid,
        channel,
        interval_start_at,
        {{ add_minutes('interval_start_at', 'duration_minutes') }} as interval_end_at,
        interval_start_local,
        local_date,
        utc_offset_minutes,
        zones.time_zone,
        duration_minutes,
        case when unit = 'kwh' then quantity end as kwh,
        quantity,
        unit,
        demand_kw,
        is_partial,
        source_duration_minutes,
        interval_uid,
        interval_updated_at,
        quality_note_types,
        quality_note_types is not null as is_flagged
    from intervals_in_scope
    left join {{ ref('meter_time_zones') }} as zones
        on intervals_in_scope.meter_uid = zones.meter_uid
)

select * from final
