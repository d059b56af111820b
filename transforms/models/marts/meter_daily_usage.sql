-- grain: one row per meter, channel and local date (the utility's calendar day)
-- unique_key: meter_uid, channel, local_date
-- materialized: incremental (scope: meter_days)
with

scope as (
    select * from analytics._scope_meter_days
),

slots as (
    select slots.*
    from analytics.meter_intervals_15min as slots
    inner join scope
        on slots.meter_uid = scope.meter_uid
        and slots.local_date between scope.from_local_date and scope.to_local_date
),

days as (
    select
        meter_uid,
        channel,
        local_date,
        min(interval_start_at) as first_slot_start_at,
        max(interval_start_at) as last_slot_start_at,
        sum(kwh) as kwh,
        min(unit) as min_unit,
        max(unit) as max_unit,
        sum(quantity) as quantity,
        max(demand_kw) as peak_demand_kw,
        count(*) filter (where not is_gap) as slots_present,
        count(*) filter (where is_spread) as slots_spread
    from slots
    group by meter_uid, channel, local_date
),

-- a local day lasts 24 hours plus the change of offset across it: 23 hours (92 slots) on
-- spring-forward days, 25 hours (100 slots) on fall-back days
day_bounds as (
    select
        days.*,
        first_slot.utc_offset_minutes as day_start_utc_offset_minutes,
        last_slot.end_utc_offset_minutes as day_end_utc_offset_minutes
    from days
    inner join slots as first_slot
        on days.meter_uid = first_slot.meter_uid
        and days.channel = first_slot.channel
        and days.first_slot_start_at = first_slot.interval_start_at
    inner join slots as last_slot
        on days.meter_uid = last_slot.meter_uid
        and days.channel = last_slot.channel
        and days.last_slot_start_at = last_slot.interval_start_at
),

measured as (
    select
        *,
        cast(96 + (day_start_utc_offset_minutes - day_end_utc_offset_minutes) / 15 as integer)
            as slots_expected
    from day_bounds
),

final as (
    select
        meter_uid,
        channel,
        local_date,
        kwh,
        -- a day published in two units has no single quantity
        case when min_unit = max_unit then quantity end as quantity,
        case when min_unit = max_unit then min_unit end as unit,
        peak_demand_kw,
        slots_expected,
        slots_present,
        slots_spread,
        slots_expected - slots_present as slots_missing,
        cast(slots_present as double precision) / slots_expected as coverage,
        slots_present = slots_expected as is_complete
    from measured
)

select * from final
