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

series as (
    select
        slots.meter_uid,
        slots.channel,
        min(slots.interval_start_at) as first_slot_start_at,
        max(slots.interval_start_at) as last_slot_start_at
    from analytics.meter_intervals_15min as slots
    inner join scope
        on slots.meter_uid = scope.meter_uid
    group by slots.meter_uid, slots.channel
),

days as (
    select
        meter_uid,
        channel,
        local_date,
        count(*) as grid_slots,
        min(interval_start_at) as first_slot_start_at,
        max(interval_start_at) as last_slot_start_at,
        min(interval_start_local) as first_slot_start_local,
        max(interval_start_local) as last_slot_start_local,
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

-- the grid holds every slot of a local day between the series' first and last reading, so its
-- count is the day's length: 92 slots on spring-forward days, 100 on fall-back days, 96
-- otherwise; on the first and last day of a series, the part of the day before or after the
-- data counts at the offset of the nearest reading
measured as (
    select
        days.*,
        cast(
            days.grid_slots
            + case
                when days.first_slot_start_at = series.first_slot_start_at
                    then extract(
                        epoch from days.first_slot_start_local - cast(days.local_date as timestamp)
                    ) / 900
                else 0
            end
            + case
                when days.last_slot_start_at = series.last_slot_start_at
                    then extract(
                        epoch from cast(days.local_date + 1 as timestamp)
                        - days.last_slot_start_local
                    ) / 900 - 1
                else 0
            end
            as integer
        ) as slots_expected
    from days
    inner join series
        on days.meter_uid = series.meter_uid
        and days.channel = series.channel
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
