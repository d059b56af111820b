-- grain: one row per meter, channel and 15-minute UTC slot that some published reading covers:
--   the share of the reading that wins the slot (finest duration first, then latest `updated`)
-- unique_key: meter_uid, channel, slot_start_at
-- materialized: incremental (scope: meter_days)
with

scope as (
    select * from analytics._scope_meter_days
),

-- readings last at most 25 hours, so any reading touching a day in scope starts at most two
-- local days before it
datapoints as (
    select datapoints.*
    from analytics.stg_interval_readings as datapoints
    inner join scope
        on datapoints.meter_uid = scope.meter_uid
        and datapoints.reading_local_date
            between scope.from_local_date - 2 and scope.to_local_date
    where datapoints.exclusion_reason is null
),

-- an Interval object belongs to one meter. A service with several physical meters publishes a
-- datapoint per meter_number; one without meter_number is the service total and wins over them
pivoted as (
    select
        interval_uid,
        reading_start_at,
        channel,
        max(meter_uid) as meter_uid,
        max(reading_end_at) as reading_end_at,
        max(reading_start_local) as reading_start_local,
        max(utc_offset_minutes) as utc_offset_minutes,
        max(end_utc_offset_minutes) as end_utc_offset_minutes,
        max(duration_minutes) as duration_minutes,
        max(interval_updated_at) as interval_updated_at,
        max(interval_created_at) as interval_created_at,
        coalesce(
            sum(value) filter (where measure = 'usage' and meter_number = ''),
            sum(value) filter (where measure = 'usage')
        ) as usage_value,
        min(coalesce(unit, '')) filter (where measure = 'usage') as usage_unit,
        max(coalesce(unit, '')) filter (where measure = 'usage') as usage_unit_last,
        coalesce(
            sum(value) filter (where measure = 'demand' and meter_number = ''),
            sum(value) filter (where measure = 'demand')
        ) as demand_kw
    from datapoints
    group by interval_uid, reading_start_at, channel
),

readings as (
    select
        meter_uid,
        channel,
        interval_uid,
        reading_start_at,
        reading_end_at,
        reading_start_local,
        utc_offset_minutes,
        end_utc_offset_minutes,
        cast(duration_minutes as integer) as duration_minutes,
        cast(duration_minutes / 15 as integer) as slot_count,
        -- one reading in two units for one channel is ambiguous: never add them up
        case when usage_unit = usage_unit_last then usage_value end as quantity,
        case when usage_unit = usage_unit_last then nullif(usage_unit, '') end as unit,
        demand_kw,
        interval_updated_at,
        interval_created_at
    from pivoted
    where (usage_unit = usage_unit_last and usage_value is not null) or demand_kw is not null
),

slot_offsets as (
    select
        counts.slot_count,
        indexes.slot_index
    from generate_series(1, 100) as counts (slot_count)
    inner join generate_series(0, 99) as indexes (slot_index)
        on indexes.slot_index < counts.slot_count
),

-- a reading longer than 15 minutes is spread evenly over its slots; demand (kW) is a rate, so
-- each slot keeps the reading's maximum rather than a share of it
slots as (
    select
        readings.meter_uid,
        readings.channel,
        readings.reading_start_at + slot_offsets.slot_index * interval '15 minute' as slot_start_at,
        -- DST changes fall on reading boundaries for 15-minute and hourly data, so every slot of
        -- a reading keeps the offset of its start and only the last slot ends on the end offset
        -- (the local clock of a slot is the reading's plus whole slots)
        readings.utc_offset_minutes,
        case
            when slot_offsets.slot_index = readings.slot_count - 1
                then readings.end_utc_offset_minutes
            else readings.utc_offset_minutes
        end as end_utc_offset_minutes,
        readings.reading_start_local + slot_offsets.slot_index * interval '15 minute'
            as slot_start_local,
        readings.quantity / readings.slot_count as quantity,
        readings.unit,
        readings.demand_kw,
        readings.duration_minutes as source_duration_minutes,
        readings.interval_uid,
        readings.reading_start_at,
        readings.interval_updated_at,
        readings.interval_created_at
    from readings
    inner join slot_offsets
        on readings.slot_count = slot_offsets.slot_count
),

slots_in_scope as (
    select slots.*
    from slots
    inner join scope
        on slots.meter_uid = scope.meter_uid
        and cast(slots.slot_start_local as date)
            between scope.from_local_date and scope.to_local_date
),

ranked as (
    select
        *,
        row_number() over (
            partition by meter_uid, channel, slot_start_at
            order by
                case when quantity is null then 1 else 0 end,
                source_duration_minutes,
                interval_updated_at desc nulls last,
                interval_created_at desc nulls last,
                interval_uid desc
        ) as candidate_rank
    from slots_in_scope
),

final as (
    select
        meter_uid,
        channel,
        slot_start_at,
        slot_start_local,
        cast(slot_start_local as date) as local_date,
        utc_offset_minutes,
        end_utc_offset_minutes,
        quantity,
        unit,
        demand_kw,
        source_duration_minutes,
        interval_uid,
        reading_start_at,
        interval_updated_at
    from ranked
    where candidate_rank = 1
)

select * from final
