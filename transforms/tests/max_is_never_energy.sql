-- A `max` datapoint is the demand (kW) of its reading: it never makes a channel of its own,
-- it only ever reaches the marts as demand_kw on the net channel, and kWh columns hold kWh
-- only. Fails with the offending rows. (That no `max` value lands in an energy column is
-- checked by daily_net_kwh_equals_raw_net_kwh: it would break the day's sum.)
with

max_as_usage as (
    select
        'meter_intervals_15min' as model,
        meter_uid,
        interval_start_at as at
    from {{ ref('meter_intervals_15min') }}
    where channel not in ('net', 'fwd', 'rev', 'gen')
),

demand_off_net as (
    select
        'meter_intervals_15min' as model,
        meter_uid,
        interval_start_at as at
    from {{ ref('meter_intervals_15min') }}
    where demand_kw is not null and channel <> 'net'
),

kwh_in_other_units as (
    select
        'meter_intervals_15min' as model,
        meter_uid,
        interval_start_at as at
    from {{ ref('meter_intervals_15min') }}
    where kwh is not null and unit <> 'kwh'
),

final as (
    select * from max_as_usage
    union all
    select * from demand_off_net
    union all
    select * from kwh_in_other_units
)

select * from final
