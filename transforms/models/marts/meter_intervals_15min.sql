{{
    config(
        materialized='incremental',
        incremental_strategy='meter_days',
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('int_meter_days_in_scope') }}

with

slots as {{ inline_cte() }} (
    select * from {{ ref('int_slots_resolved') }}
),

resolved as {{ inline_cte() }} (
    select *
    from slots
    where {{ in_meter_day_scope('meter_uid', 'local_date') }}
),

{% if is_incremental() %}
-- a gap can start before the days in scope or end after them: find the readings on either side
last_before_scope as (
    select
        slots.meter_uid,
        slots.channel,
        max(slots.slot_start_at) as slot_start_at
    from slots
    inner join {{ ref('int_meter_days_in_scope') }} as scope
        on slots.meter_uid = scope.meter_uid
        and slots.local_date < scope.from_local_date
    group by slots.meter_uid, slots.channel
),

first_after_scope as (
    select
        slots.meter_uid,
        slots.channel,
        min(slots.slot_start_at) as slot_start_at
    from slots
    inner join {{ ref('int_meter_days_in_scope') }} as scope
        on slots.meter_uid = scope.meter_uid
        and slots.local_date > scope.to_local_date
    group by slots.meter_uid, slots.channel
),

neighbours as (
    select slots.meter_uid, slots.channel, slots.slot_start_at, slots.end_utc_offset_minutes
    from slots
    inner join last_before_scope
        on slots.meter_uid = last_before_scope.meter_uid
        and slots.channel = last_before_scope.channel
        and slots.slot_start_at = last_before_scope.slot_start_at
    union all
    select slots.meter_uid, slots.channel, slots.slot_start_at, slots.end_utc_offset_minutes
    from slots
    inner join first_after_scope
        on slots.meter_uid = first_after_scope.meter_uid
        and slots.channel = first_after_scope.channel
        and slots.slot_start_at = first_after_scope.slot_start_at
),
{% endif %}

series as (
    select meter_uid, channel, slot_start_at, end_utc_offset_minutes
    from resolved
    {% if is_incremental() %}
    union all
    select meter_uid, channel, slot_start_at, end_utc_offset_minutes
    from neighbours
    {% endif %}
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
        {{ add_minutes('slot_start_at', 15) }} as gap_start_at,
        {{ add_minutes('next_slot_start_at', -15) }} as gap_last_at,
        end_utc_offset_minutes as utc_offset_minutes
    from followed
    where next_slot_start_at > {{ add_minutes('slot_start_at', 15) }}
),

gap_slots as (
    select
        gaps.meter_uid,
        gaps.channel,
        gap_slot.slot_start_at,
        gaps.utc_offset_minutes,
        {{ add_minutes(utc_wall_clock('gap_slot.slot_start_at'), 'gaps.utc_offset_minutes') }}
            as slot_start_local
    from gaps
    {{ timestamp_series('gaps.gap_start_at', 'gaps.gap_last_at', 15, 'gap_slot', 'slot_start_at') }}
),

gap_slots_in_scope as (
    select *
    from gap_slots
    where {{ in_meter_day_scope('meter_uid', 'cast(slot_start_local as date)') }}
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
        quality_note_types,
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
        cast(null as {{ type_double() }}) as quantity,
        cast(null as {{ dbt.type_string() }}) as unit,
        cast(null as {{ type_double() }}) as demand_kw,
        cast(null as integer) as source_duration_minutes,
        cast(null as {{ dbt.type_string() }}) as interval_uid,
        cast(null as {{ type_timestamptz() }}) as interval_updated_at,
        cast(null as {{ dbt.type_string() }}) as quality_note_types,
        true as is_gap
    from gap_slots_in_scope
),

final as (
    select
        grid.meter_uid,
        channel,
        slot_start_at as interval_start_at,
        {{ add_minutes('slot_start_at', 15) }} as interval_end_at,
        slot_start_local as interval_start_local,
        local_date,
        utc_offset_minutes,
        zones.time_zone,
        case when unit = 'kwh' then quantity end as kwh,
        quantity,
        unit,
        demand_kw,
        is_gap,
        coalesce(source_duration_minutes > 15, false) as is_spread,
        source_duration_minutes,
        interval_uid,
        interval_updated_at,
        quality_note_types,
        quality_note_types is not null as is_flagged
    from grid 
    left join {{ ref('meter_time_zones') }} as zones
        on grid.meter_uid = zones.meter_uid
)

select * from final
