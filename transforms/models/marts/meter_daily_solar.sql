{{
    config(
        materialized='incremental',
        incremental_strategy='meter_days',
        on_schema_change='fail',
    )
}}

with

days as (
    select *
    from {{ ref('meter_daily_usage') }}
    where {{ in_meter_day_scope('meter_uid', 'local_date') }}
),

-- meters that export: the ones publishing a `rev` channel
solar_meters as (
    select distinct meter_uid
    from days
    where channel = 'rev'
),

final as (
    select
        days.meter_uid,
        days.local_date,
        max(days.time_zone) as time_zone,
        sum(case when days.channel = 'fwd' then days.kwh end) as import_kwh,
        sum(case when days.channel = 'rev' then days.kwh end) as export_kwh,
        sum(case when days.channel = 'net' then days.kwh end) as net_kwh,
        sum(case when days.channel = 'gen' then days.kwh end) as generation_kwh,
        min(case when days.channel in ('fwd', 'rev') then days.coverage end) as coverage,
        count(case when days.channel in ('fwd', 'rev') and not days.is_complete then 1 end)
            = 0 as is_complete
    from days
    inner join solar_meters
        on days.meter_uid = solar_meters.meter_uid
    group by days.meter_uid, days.local_date
)

select * from final
