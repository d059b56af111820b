{{
    config(
        materialized='incremental',
        incremental_strategy='meter_days',
        on_schema_change='fail',
    )
}}

with

-- all slots of every reading that starts in scope (readings last at most 25 hours), read back
-- from the 15-minute grid, which holds every resolved slot besides its gaps
slots as {{ inline_cte() }} (
    select
        meter_uid,
        channel,
        interval_start_at as slot_start_at,
        interval_start_local as slot_start_local,
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
    where not is_gap
        and {{ in_meter_day_scope('meter_uid', 'local_date', days_before=2, days_after=2) }}
),

-- a 15-minute reading in the resolved series won its only slot: it is whole
single_slot_readings as (
    select
        meter_uid,
        channel,
        slot_start_at as interval_start_at,
        slot_start_local as interval_start_local,
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
    from slots
    where source_duration_minutes = 15
),

longer_reading_slots as (
    select * from slots where source_duration_minutes > 15
),

won_slot_counts as (
    select
        meter_uid,
        channel,
        interval_uid,
        reading_start_at,
        count(*) as won_slot_count
    from longer_reading_slots
    group by meter_uid, channel, interval_uid, reading_start_at
),

classified as (
    select
        longer_reading_slots.*,
        won_slot_counts.won_slot_count * 15 = longer_reading_slots.source_duration_minutes
            as is_whole_reading
    from longer_reading_slots
    inner join won_slot_counts
        on longer_reading_slots.meter_uid = won_slot_counts.meter_uid
        and longer_reading_slots.channel = won_slot_counts.channel
        and longer_reading_slots.interval_uid = won_slot_counts.interval_uid
        and longer_reading_slots.reading_start_at = won_slot_counts.reading_start_at
),

whole_readings as (
    select
        meter_uid,
        channel,
        reading_start_at as interval_start_at,
        min(slot_start_local) as interval_start_local,
        min(local_date) as local_date,
        max(utc_offset_minutes) as utc_offset_minutes,
        max(source_duration_minutes) as duration_minutes,
        sum(quantity) as quantity,
        max(unit) as unit,
        max(demand_kw) as demand_kw,
        false as is_partial,
        max(source_duration_minutes) as source_duration_minutes,
        interval_uid,
        max(interval_updated_at) as interval_updated_at,
        max(quality_note_types) as quality_note_types
    from classified
    where is_whole_reading
    group by meter_uid, channel, interval_uid, reading_start_at
),

-- the uncovered slots of a longer reading keep their even share of it; the shares of the
-- covered slots are dropped, because the finer readings there are the better measurement
partial_readings as (
    select
        meter_uid,
        channel,
        slot_start_at as interval_start_at,
        slot_start_local as interval_start_local,
        local_date,
        utc_offset_minutes,
        15 as duration_minutes,
        quantity,
        unit,
        demand_kw,
        true as is_partial,
        source_duration_minutes,
        interval_uid,
        interval_updated_at,
        quality_note_types
    from classified
    where not is_whole_reading
),

intervals as (
    select * from single_slot_readings
    union all
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
