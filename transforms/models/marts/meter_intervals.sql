{{ config(materialized='view') }}

-- The resolved series at its published resolution. A view, so nothing is written twice: a
-- 15-minute reading is its own slot of meter_intervals_15min (which holds every resolved slot
-- besides the gaps), and the readings longer than 15 minutes, whole or in 15-minute pieces,
-- are int_longer_reading_intervals (a table of their own: grouping their slots is work)

with

fifteen_minute_readings as (
    select
        meter_uid,
        channel,
        interval_start_at,
        interval_end_at,
        interval_start_local,
        local_date,
        utc_offset_minutes,
        time_zone,
        source_duration_minutes as duration_minutes,
        kwh,
        quantity,
        unit,
        demand_kw,
        false as is_partial,
        source_duration_minutes,
        interval_uid,
        interval_updated_at,
        quality_note_types,
        is_flagged
    from {{ ref('meter_intervals_15min') }}
    where source_duration_minutes = 15
),

longer_readings as (
    select
        meter_uid,
        channel,
        interval_start_at,
        interval_end_at,
        interval_start_local,
        local_date,
        utc_offset_minutes,
        time_zone,
        duration_minutes,
        kwh,
        quantity,
        unit,
        demand_kw,
        is_partial,
        source_duration_minutes,
        interval_uid,
        interval_updated_at,
        quality_note_types,
        is_flagged
    from {{ ref('int_longer_reading_intervals') }}
),

final as (
    select * from fifteen_minute_readings
    union all
    select * from longer_readings
)

select * from final
