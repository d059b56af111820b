-- grain: one row per meter, channel and 15-minute UTC slot that some published reading covers;
--   the reading that wins the slot: finest duration first, then latest `updated`
-- unique_key: meter_uid, channel, slot_start_at
-- materialized: incremental (scope: meter_days)
with

scope as (
    select * from analytics._scope_meter_days
),

-- readings last at most 25 hours, so any reading touching a day in scope starts at most two
-- local days before it
readings as (
    select readings.*
    from analytics.int_readings_pivoted as readings
    inner join scope
        on readings.meter_uid = scope.meter_uid
        and readings.local_date between scope.from_local_date - 2 and scope.to_local_date
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
        readings.utc_offset_minutes,
        case
            when slot_offsets.slot_index = readings.slot_count - 1
                then readings.end_utc_offset_minutes
            else readings.utc_offset_minutes
        end as end_utc_offset_minutes,
        readings.quantity / readings.slot_count as quantity,
        readings.unit,
        readings.demand_kw,
        slot_offsets.slot_index,
        readings.slot_count,
        readings.duration_minutes as source_duration_minutes,
        readings.interval_uid,
        readings.reading_start_at,
        readings.reading_end_at,
        readings.interval_updated_at,
        readings.interval_created_at
    from readings
    inner join slot_offsets
        on readings.slot_count = slot_offsets.slot_count
),

localized as (
    select
        *,
        cast(slot_start_at at time zone 'UTC' as timestamp)
            + utc_offset_minutes * interval '1 minute' as slot_start_local
    from slots
),

slots_in_scope as (
    select localized.*
    from localized
    inner join scope
        on localized.meter_uid = scope.meter_uid
        and cast(localized.slot_start_local as date)
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
        slot_index,
        slot_count,
        source_duration_minutes,
        interval_uid,
        reading_start_at,
        reading_end_at,
        interval_updated_at
    from ranked
    where candidate_rank = 1
)

select * from final
