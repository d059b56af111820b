{{
    config(
        materialized='incremental',
        incremental_strategy='meter_days',
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('int_meter_days_in_scope') }}

with

-- the resolved slots of the run's meter-days (the ephemeral model computes only those)
resolved as {{ inline_cte() }} (
    select * from {{ ref('int_slots_resolved') }}
),

{% if is_incremental() %}
-- a gap can start before the days in scope or end after them: find the readings on either side
-- in the slots earlier runs resolved (this table's rows that are not gaps)
resolved_before as {{ inline_cte() }} (
    select
        meter_uid,
        channel,
        interval_start_at as slot_start_at,
        end_utc_offset_minutes,
        local_date
    from {{ this }}
    where not is_gap
        and meter_uid in (select meter_uid from {{ ref('int_meter_days_in_scope') }})
),

last_before_scope as (
    select
        earlier.meter_uid,
        earlier.channel,
        max(earlier.slot_start_at) as slot_start_at
    from resolved_before as earlier
    inner join {{ ref('int_meter_days_in_scope') }} as scope
        on earlier.meter_uid = scope.meter_uid
        and earlier.local_date < scope.from_local_date
    group by earlier.meter_uid, earlier.channel
),

first_after_scope as (
    select
        later.meter_uid,
        later.channel,
        min(later.slot_start_at) as slot_start_at
    from resolved_before as later
    inner join {{ ref('int_meter_days_in_scope') }} as scope
        on later.meter_uid = scope.meter_uid
        and later.local_date > scope.to_local_date
    group by later.meter_uid, later.channel
),

-- the resolved slots at those edges (one before the scope and one after, per series)
scope_edges as (
    select * from last_before_scope
    union all
    select * from first_after_scope
),

neighbours as (
    select
        resolved_before.meter_uid,
        resolved_before.channel,
        resolved_before.slot_start_at,
        resolved_before.end_utc_offset_minutes
    from resolved_before
    inner join scope_edges
        on resolved_before.meter_uid = scope_edges.meter_uid
        and resolved_before.channel = scope_edges.channel
        and resolved_before.slot_start_at = scope_edges.slot_start_at
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

-- the slot after each slot is looked for day by day (days of the epoch, in UTC): a day that
-- holds as many slots as its first-to-last span has no gap inside, so the window over slots
-- runs only on the few days with one, and a window over days finds the gaps between days
-- (a window over every slot was most of this model's time)
series_days as {{ inline_cte() }} (
    select
        *,
        floor({{ epoch_seconds('slot_start_at') }} / 86400) as epoch_day
    from series
),

days as (
    select
        meter_uid,
        channel,
        epoch_day,
        count(*) as slots,
        min(slot_start_at) as first_slot_start_at,
        max(slot_start_at) as last_slot_start_at
    from series_days
    group by meter_uid, channel, epoch_day
),

days_with_a_gap as (
    select meter_uid, channel, epoch_day
    from days
    where slots < (
        {{ epoch_seconds('last_slot_start_at') }} - {{ epoch_seconds('first_slot_start_at') }}
    ) / 900 + 1
),

day_ends as (
    select
        meter_uid,
        channel,
        last_slot_start_at as slot_start_at,
        lead(first_slot_start_at) over (
            partition by meter_uid, channel
            order by epoch_day
        ) as next_slot_start_at
    from days
),

followed as (
    select
        series_days.meter_uid,
        series_days.channel,
        series_days.slot_start_at,
        series_days.end_utc_offset_minutes,
        lead(series_days.slot_start_at) over (
            partition by series_days.meter_uid, series_days.channel, series_days.epoch_day
            order by series_days.slot_start_at
        ) as next_slot_start_at
    from series_days
    inner join days_with_a_gap
        on series_days.meter_uid = days_with_a_gap.meter_uid
        and series_days.channel = days_with_a_gap.channel
        and series_days.epoch_day = days_with_a_gap.epoch_day
    union all
    select
        day_ends.meter_uid,
        day_ends.channel,
        day_ends.slot_start_at,
        series.end_utc_offset_minutes,
        day_ends.next_slot_start_at
    from day_ends
    inner join series
        on day_ends.meter_uid = series.meter_uid
        and day_ends.channel = series.channel
        and day_ends.slot_start_at = series.slot_start_at
    where day_ends.next_slot_start_at > {{ add_minutes('day_ends.slot_start_at', 15) }}
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
        end_utc_offset_minutes,
        quantity,
        unit,
        demand_kw,
        source_duration_minutes,
        interval_uid,
        reading_start_at,
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
        utc_offset_minutes as end_utc_offset_minutes,
        cast(null as {{ type_double() }}) as quantity,
        cast(null as {{ dbt.type_string() }}) as unit,
        cast(null as {{ type_double() }}) as demand_kw,
        cast(null as integer) as source_duration_minutes,
        cast(null as {{ dbt.type_string() }}) as interval_uid,
        cast(null as {{ type_timestamptz() }}) as reading_start_at,
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
        end_utc_offset_minutes,
        zones.time_zone,
        case when unit = 'kwh' then quantity end as kwh,
        quantity,
        unit,
        demand_kw,
        is_gap,
        coalesce(source_duration_minutes > 15, false) as is_spread,
        source_duration_minutes,
        interval_uid,
        reading_start_at,
        interval_updated_at,
        quality_note_types,
        quality_note_types is not null as is_flagged
    from grid 
    left join {{ ref('meter_time_zones') }} as zones
        on grid.meter_uid = zones.meter_uid
)

select * from final
