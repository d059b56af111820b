-- grain: one row per meter, channel and 15-minute UTC slot, on a complete grid from the
--   channel's first to its last reading; slots without any reading are explicit gap rows
-- unique_key: meter_uid, channel, interval_start_at
-- materialized: incremental (scope: meter_days)
with

scope as (
    select * from analytics._scope_meter_days
),

resolved as (
    select slots.*
    from analytics.int_slots_resolved as slots
    inner join scope
        on slots.meter_uid = scope.meter_uid
        and slots.local_date between scope.from_local_date and scope.to_local_date
),

-- a gap can start before the days in scope or end after them: find the readings on either side
last_before_scope as (
    select
        slots.meter_uid,
        slots.channel,
        max(slots.slot_start_at) as slot_start_at
    from analytics.int_slots_resolved as slots
    inner join scope
        on slots.meter_uid = scope.meter_uid
        and slots.local_date < scope.from_local_date
    group by slots.meter_uid, slots.channel
),

first_after_scope as (
    select
        slots.meter_uid,
        slots.channel,
        min(slots.slot_start_at) as slot_start_at
    from analytics.int_slots_resolved as slots
    inner join scope
        on slots.meter_uid = scope.meter_uid
        and slots.local_date > scope.to_local_date
    group by slots.meter_uid, slots.channel
),

neighbours as (
    select slots.meter_uid, slots.channel, slots.slot_start_at, slots.end_utc_offset_minutes
    from analytics.int_slots_resolved as slots
    inner join last_before_scope
        on slots.meter_uid = last_before_scope.meter_uid
        and slots.channel = last_before_scope.channel
        and slots.slot_start_at = last_before_scope.slot_start_at
    union all
    select slots.meter_uid, slots.channel, slots.slot_start_at, slots.end_utc_offset_minutes
    from analytics.int_slots_resolved as slots
    inner join first_after_scope
        on slots.meter_uid = first_after_scope.meter_uid
        and slots.channel = first_after_scope.channel
        and slots.slot_start_at = first_after_scope.slot_start_at
),

series as (
    select meter_uid, channel, slot_start_at, end_utc_offset_minutes
    from resolved
    union all
    select meter_uid, channel, slot_start_at, end_utc_offset_minutes
    from neighbours
),

followed as (
    select
        *,
        lead(slot_start_at) over (
            partition by meter_uid, channel
            order by slot_start_at
        ) as next_slot_start_at
    from series
),

-- the offset in force when the data stops is carried through the gap: without a reading the
-- instant of a DST change inside a gap is unknown, so it lands on the first reading after it
gaps as (
    select
        meter_uid,
        channel,
        slot_start_at + interval '15 minute' as gap_start_at,
        next_slot_start_at as gap_end_at,
        end_utc_offset_minutes as utc_offset_minutes
    from followed
    where next_slot_start_at > slot_start_at + interval '15 minute'
),

gap_slots as (
    select
        gaps.meter_uid,
        gaps.channel,
        gap_slot.slot_start_at,
        gaps.utc_offset_minutes,
        cast(gap_slot.slot_start_at at time zone 'UTC' as timestamp)
            + gaps.utc_offset_minutes * interval '1 minute' as slot_start_local
    from gaps
    cross join lateral generate_series(
        gaps.gap_start_at,
        gaps.gap_end_at - interval '15 minute',
        interval '15 minute'
    ) as gap_slot (slot_start_at)
),

gap_slots_in_scope as (
    select gap_slots.*
    from gap_slots
    inner join scope
        on gap_slots.meter_uid = scope.meter_uid
        and cast(gap_slots.slot_start_local as date)
            between scope.from_local_date and scope.to_local_date
),

grid as (
    select
        meter_uid,
        channel,
        slot_start_at,
        slot_start_local,
        local_date,
        utc_offset_minutes,
        quantity,
        unit,
        demand_kw,
        source_duration_minutes,
        interval_uid,
        interval_updated_at,
        false as is_gap
    from resolved
    union all
    select
        meter_uid,
        channel,
        slot_start_at,
        slot_start_local,
        cast(slot_start_local as date) as local_date,
        utc_offset_minutes,
        cast(null as double precision) as quantity,
        cast(null as varchar) as unit,
        cast(null as double precision) as demand_kw,
        cast(null as integer) as source_duration_minutes,
        cast(null as varchar) as interval_uid,
        cast(null as timestamptz) as interval_updated_at,
        true as is_gap
    from gap_slots_in_scope
),

final as (
    select
        meter_uid,
        channel,
        slot_start_at as interval_start_at,
        slot_start_at + interval '15 minute' as interval_end_at,
        slot_start_local as interval_start_local,
        local_date,
        utc_offset_minutes,
        case when unit = 'kwh' then quantity end as kwh,
        quantity,
        unit,
        demand_kw,
        is_gap,
        coalesce(source_duration_minutes > 15, false) as is_spread,
        source_duration_minutes,
        interval_uid,
        interval_updated_at
    from grid
)

select * from final
