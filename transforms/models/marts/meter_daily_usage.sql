{{
    config(
        materialized='incremental',
        incremental_strategy='meter_days',
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('int_meter_days_in_scope') }}

with

grid as {{ inline_cte(incremental_too=true) }} (
    select * from {{ ref('meter_intervals_15min') }}
),

slots as (
    select *
    from grid
    where {{ in_meter_day_scope('meter_uid', 'local_date') }}
),

-- the first and last slot of each series (of the meters in scope: all their days)
series as (
    select
        meter_uid,
        channel,
        min(interval_start_at) as first_slot_start_at,
        max(interval_start_at) as last_slot_start_at
    from grid
    {% if is_incremental() %}
    where meter_uid in (select meter_uid from {{ ref('int_meter_days_in_scope') }})
    {% endif %}
    group by meter_uid, channel
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
        max(time_zone) as time_zone,
        min(unit) as min_unit,
        max(unit) as max_unit,
        sum(quantity) as quantity,
        max(demand_kw) as peak_demand_kw,
        count(case when not is_gap then 1 end) as slots_present,
        count(case when is_spread then 1 end) as slots_spread,
        count(case when is_flagged then 1 end) as slots_flagged
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
                    then (
                        {{ epoch_seconds('days.first_slot_start_local') }}
                        - {{ epoch_seconds('cast(days.local_date as timestamp)') }}
                    ) / 900
                else 0
            end
            + case
                when days.last_slot_start_at = series.last_slot_start_at
                    then (
                        {{ epoch_seconds('cast(' ~ add_days('days.local_date', 1) ~ ' as timestamp)') }}
                        - {{ epoch_seconds('days.last_slot_start_local') }}
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
        time_zone,
        kwh,
        -- a day published in two units has no single quantity
        case when min_unit = max_unit then quantity end as quantity,
        case when min_unit = max_unit then min_unit end as unit,
        peak_demand_kw,
        slots_expected,
        slots_present,
        slots_spread,
        slots_expected - slots_present as slots_missing,
        slots_flagged,
        cast(slots_present as {{ type_double() }}) / slots_expected as coverage,
        slots_present = slots_expected as is_complete
    from measured
)

select * from final
