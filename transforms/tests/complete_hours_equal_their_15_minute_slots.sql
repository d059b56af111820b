-- A complete hour's kWh is the kWh of its four 15-minute slots (to 1e-9: warehouses add in
-- no fixed order). Fails with one row per hour that disagrees. An incremental run checks the
-- hours of its meter-days, a full build all of them.
with

hours as (
    select hourly.*
    from {{ ref('meter_hourly_usage') }} as hourly
    where hourly.is_complete_hour
        and {{ in_tested_scope('hourly.meter_uid', 'hourly.local_date') }}
),

slot_sums as (
    select
        hours.meter_uid,
        hours.channel,
        hours.hour_start_at,
        hours.kwh,
        sum(slots.kwh) as slots_kwh,
        count(*) as slots
    from hours
    inner join {{ ref('meter_intervals_15min') }} as slots
        on hours.meter_uid = slots.meter_uid
        and hours.channel = slots.channel
        and slots.interval_start_at >= hours.hour_start_at
        and slots.interval_start_at < {{ add_minutes('hours.hour_start_at', 60) }}
        and slots.local_date = hours.local_date
    group by hours.meter_uid, hours.channel, hours.hour_start_at, hours.kwh
),

final as (
    select *
    from slot_sums
    where slots <> 4
        or abs(coalesce(kwh, 0) - coalesce(slots_kwh, 0)) > 1e-9
        or (kwh is null) <> (slots_kwh is null)
)

select * from final
