-- Every local day of a meter with a known time zone expects as many 15-minute slots as the
-- day lasts in that zone: 92 on spring-forward days, 100 on fall-back days, 96 otherwise. A
-- day published with the wrong offsets (a broken DST day) fails here. The first and last day
-- of a series are left out: their part before or after the data counts at the nearest
-- reading's offset. Fails with one row per day that disagrees.
with

scope as (
    select * from {{ ref('int_meter_days_in_scope') }}
),

days as (
    select daily.*
    from {{ ref('meter_daily_usage') }} as daily
    inner join scope
        on daily.meter_uid = scope.meter_uid
        and daily.local_date between scope.from_local_date and scope.to_local_date
    where daily.time_zone is not null
),

series as (
    select
        meter_uid,
        channel,
        min(local_date) as first_local_date,
        max(local_date) as last_local_date
    from {{ ref('meter_daily_usage') }}
    group by meter_uid, channel
),

measured as (
    select
        days.meter_uid,
        days.channel,
        days.local_date,
        days.time_zone,
        days.slots_expected,
        cast((
            {{ epoch_seconds(zone_instant('cast(' ~ add_days('days.local_date', 1) ~ ' as timestamp)', 'days.time_zone')) }}
            - {{ epoch_seconds(zone_instant('cast(days.local_date as timestamp)', 'days.time_zone')) }}
        ) / 900 as integer) as zone_slots
    from days
    inner join series
        on days.meter_uid = series.meter_uid
        and days.channel = series.channel
    where days.local_date > series.first_local_date
        and days.local_date < series.last_local_date
),

final as (
    select * from measured where slots_expected <> zone_slots
)

select * from final
