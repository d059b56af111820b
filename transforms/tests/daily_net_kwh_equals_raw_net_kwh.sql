-- Per meter and local day, the net kWh of meter_daily_usage equals the raw net kWh datapoints
-- to 1e-9, on every day where nothing competes for the slots: one Interval object and one
-- physical meter publish the day's net kWh, in readings of at most an hour (which never cross
-- local midnight). Fails with one row per day that disagrees. An incremental run stages only
-- the raw rows of its meter-days (the staging view would de-duplicate the whole table first);
-- a full build checks every day.
-- depends_on: {{ ref('stg_interval_readings') }}
with

scope as (
    select * from {{ ref('int_meter_days_in_scope') }}
),

staged as (
    {{ staged_readings_in_tested_scope() }}
),

raw_days as (
    select
        meter_uid,
        reading_local_date as local_date,
        sum(value) as raw_kwh,
        count(distinct interval_uid) as objects,
        count(distinct meter_number) as meter_numbers,
        max(duration_minutes) as longest_minutes
    from staged
    where exclusion_reason is null
        and datapoint_type = 'net'
        and unit = 'kwh'
    group by meter_uid, reading_local_date
),

comparable_days as (
    select raw_days.*
    from raw_days
    inner join scope
        on raw_days.meter_uid = scope.meter_uid
        and raw_days.local_date between scope.from_local_date and scope.to_local_date
    where raw_days.objects = 1
        and raw_days.meter_numbers = 1
        and raw_days.longest_minutes <= 60
),

final as (
    select
        comparable_days.meter_uid,
        comparable_days.local_date,
        comparable_days.raw_kwh,
        daily.kwh
    from comparable_days
    left join {{ ref('meter_daily_usage') }} as daily
        on comparable_days.meter_uid = daily.meter_uid
        and comparable_days.local_date = daily.local_date
        and daily.channel = 'net'
    where daily.kwh is null
        or abs(daily.kwh - comparable_days.raw_kwh) > 1e-9
)

select * from final
