{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['meter_uid', 'month_start_local'],
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('int_meter_days_in_scope') }}

with

grid as {{ inline_cte(incremental_too=true) }} (
    select
        *,
        cast({{ dbt.date_trunc('month', 'local_date') }} as date) as month_start_local
    from {{ ref('meter_intervals_15min') }}
    where channel = 'net'
),

{% if is_incremental() %}
-- whole months are recomputed: those that touch the run's scope
months_in_scope as (
    select distinct
        grid.meter_uid,
        grid.month_start_local
    from grid
    inner join {{ ref('int_meter_days_in_scope') }} as scope
        on grid.meter_uid = scope.meter_uid
        and grid.local_date between scope.from_local_date and scope.to_local_date
),

slots as (
    select grid.*
    from grid
    inner join months_in_scope
        on grid.meter_uid = months_in_scope.meter_uid
        and grid.month_start_local = months_in_scope.month_start_local
),
{% else %}
slots as (
    select * from grid
),
{% endif %}

-- kW from 15-minute energy only where a slot is a whole 15-minute reading: a spread share of
-- an hourly reading is an average, not a peak
measured as (
    select
        *,
        case
            when not is_gap and not is_spread and source_duration_minutes = 15
                then kwh * 4
        end as interval_kw
    from slots
),

months as (
    select
        meter_uid,
        month_start_local,
        max(time_zone) as time_zone,
        max(demand_kw) as reported_peak_kw,
        max(interval_kw) as interval_peak_kw,
        sum(kwh) as kwh,
        count(case when not is_gap then 1 end) as slots_present
    from measured
    group by meter_uid, month_start_local
),

peaks as (
    select
        meter_uid,
        month_start_local,
        time_zone,
        kwh,
        slots_present,
        coalesce(reported_peak_kw, interval_peak_kw) as peak_kw,
        case
            when reported_peak_kw is not null then 'reported_demand'
            when interval_peak_kw is not null then 'interval_energy'
            else 'unavailable'
        end as peak_method
    from months
),

-- the first slot that reached the peak, by the method used
peak_slots as (
    select
        peaks.meter_uid,
        peaks.month_start_local,
        min(measured.interval_start_at) as peak_interval_start_at
    from peaks
    inner join measured
        on peaks.meter_uid = measured.meter_uid
        and peaks.month_start_local = measured.month_start_local
        and (
            (peaks.peak_method = 'reported_demand' and measured.demand_kw = peaks.peak_kw)
            or (peaks.peak_method = 'interval_energy' and measured.interval_kw = peaks.peak_kw)
        )
    group by peaks.meter_uid, peaks.month_start_local
),

final as (
    select
        peaks.meter_uid,
        peaks.month_start_local,
        peaks.time_zone,
        peaks.peak_kw,
        peaks.peak_method,
        peak_slots.peak_interval_start_at,
        peaks.kwh,
        peaks.slots_present
    from peaks
    left join peak_slots
        on peaks.meter_uid = peak_slots.meter_uid
        and peaks.month_start_local = peak_slots.month_start_local
)

select * from final
