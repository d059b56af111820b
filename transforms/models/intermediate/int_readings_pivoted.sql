-- grain: one row per meter, channel and published reading (interval object and reading start)
-- unique_key: meter_uid, channel, interval_uid, reading_start_at
-- materialized: incremental (scope: meter_days)
with

scope as (
    select * from analytics._scope_meter_days
),

datapoints as (
    select datapoints.*
    from analytics.stg_interval_readings as datapoints
    inner join scope
        on datapoints.meter_uid = scope.meter_uid
        and datapoints.reading_local_date between scope.from_local_date and scope.to_local_date
    where datapoints.exclusion_reason is null
),

-- a service with several physical meters publishes one datapoint per meter_number; a datapoint
-- without meter_number is the service total, so it wins over the per-meter ones
pivoted as (
    select
        meter_uid,
        channel,
        interval_uid,
        reading_start_at,
        max(reading_end_at) as reading_end_at,
        max(reading_start_local) as reading_start_local,
        max(reading_local_date) as local_date,
        max(utc_offset_minutes) as utc_offset_minutes,
        max(end_utc_offset_minutes) as end_utc_offset_minutes,
        max(duration_minutes) as duration_minutes,
        max(interval_updated_at) as interval_updated_at,
        max(interval_created_at) as interval_created_at,
        coalesce(
            sum(value) filter (where measure = 'usage' and meter_number = ''),
            sum(value) filter (where measure = 'usage')
        ) as usage_value,
        min(unit) filter (where measure = 'usage') as usage_unit,
        count(distinct coalesce(unit, '')) filter (where measure = 'usage') as usage_unit_count,
        coalesce(
            sum(value) filter (where measure = 'demand' and meter_number = ''),
            sum(value) filter (where measure = 'demand')
        ) as demand_kw
    from datapoints
    group by
        meter_uid,
        channel,
        interval_uid,
        reading_start_at
),

final as (
    select
        meter_uid,
        channel,
        interval_uid,
        reading_start_at,
        reading_end_at,
        reading_start_local,
        local_date,
        utc_offset_minutes,
        end_utc_offset_minutes,
        cast(duration_minutes as integer) as duration_minutes,
        cast(duration_minutes / 15 as integer) as slot_count,
        -- one reading in two units for one channel is ambiguous: never add them up
        case when usage_unit_count = 1 then usage_value end as quantity,
        case when usage_unit_count = 1 then usage_unit end as unit,
        demand_kw,
        interval_updated_at,
        interval_created_at
    from pivoted
    where (usage_unit_count = 1 and usage_value is not null) or demand_kw is not null
)

select * from final
