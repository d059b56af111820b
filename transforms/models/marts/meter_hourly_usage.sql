{{
    config(
        materialized='incremental',
        incremental_strategy='meter_days',
        on_schema_change='fail',
    )
}}

with

slots as (
    select *
    from {{ ref('meter_intervals_15min') }}
    where {{ in_meter_day_scope('meter_uid', 'local_date') }}
),

-- a local hour is its wall-clock hour and offset: on fall-back days 01:00 happens twice
hours as (
    select
        meter_uid,
        channel,
        {{ dbt.date_trunc('hour', 'interval_start_local') }} as hour_start_local,
        utc_offset_minutes,
        min(local_date) as local_date,
        min(interval_start_at) as first_slot_start_at,
        count(*) as grid_slots,
        count(case when not is_gap then 1 end) as slots_present,
        count(case when is_spread then 1 end) as slots_spread,
        count(case when is_flagged then 1 end) as slots_flagged,
        sum(kwh) as kwh,
        sum(quantity) as quantity,
        min(unit) as min_unit,
        max(unit) as max_unit,
        max(demand_kw) as peak_demand_kw
    from slots
    group by 1, 2, 3, 4
),

final as (
    select
        hours.meter_uid,
        channel,
        {{ zone_instant(add_minutes('cast(hour_start_local as timestamp)', '-utc_offset_minutes'),
            "'UTC'") }} as hour_start_at,
        cast(hour_start_local as timestamp) as hour_start_local,
        local_date,
        utc_offset_minutes,
        zones.time_zone,
        kwh,
        case when min_unit = max_unit then quantity end as quantity,
        case when min_unit = max_unit then min_unit end as unit,
        peak_demand_kw,
        slots_present,
        slots_spread,
        slots_flagged,
        -- what CalTRACK-style tools take: all four 15-minute slots of the hour have a value
        grid_slots = 4 and slots_present = 4 as is_complete_hour
    from hours
    -- the zone the grid's rows of these meter-days were built with (the same run's)
    left join {{ ref('meter_time_zones') }} as zones
        on hours.meter_uid = zones.meter_uid
)

select * from final
