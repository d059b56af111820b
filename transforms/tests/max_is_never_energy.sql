-- A `max` datapoint is the demand (kW) of its reading: it is never usage, and it only ever
-- reaches the marts as demand_kw on the net channel. Fails with the offending rows.
with

max_as_usage as (
    select
        'stg_interval_readings' as model,
        meter_uid,
        reading_start_at as at
    from {{ ref('stg_interval_readings') }}
    where datapoint_type = 'max' and measure = 'usage'
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
