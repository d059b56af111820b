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

-- each slot under the start of its local hour, in UTC: its instant less the minutes its wall
-- clock is past the hour (the mart groups wall clocks instead). An equality to join on: the
-- join this replaced paired each hour with every slot of its day and kept those inside the
-- hour (1.5 s on the 10.6 M-reading bench world; this ~0.8 s)
slot_hours as (
    select
        meter_uid,
        channel,
        local_date,
        {{ add_minutes('interval_start_at', '-' ~ minute_of('interval_start_local')) }}
            as hour_start_at,
        sum(kwh) as slots_kwh,
        count(*) as slots
    from {{ ref('meter_intervals_15min') }}
    where {{ in_tested_scope('meter_uid', 'local_date') }}
    group by 1, 2, 3, 4
),

slot_sums as (
    select
        hours.meter_uid,
        hours.channel,
        hours.hour_start_at,
        hours.kwh,
        slot_hours.slots_kwh,
        coalesce(slot_hours.slots, 0) as slots
    from hours
    left join slot_hours
        on hours.meter_uid = slot_hours.meter_uid
        and hours.channel = slot_hours.channel
        and hours.hour_start_at = slot_hours.hour_start_at
        and hours.local_date = slot_hours.local_date
),

final as (
    select *
    from slot_sums
    where slots <> 4
        or abs(coalesce(kwh, 0) - coalesce(slots_kwh, 0)) > 1e-9
        or (kwh is null) <> (slots_kwh is null)
)

select * from final
