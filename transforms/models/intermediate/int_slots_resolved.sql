-- Not a table: meter_intervals_15min, which holds every slot this resolves (and the grid's gaps),
-- is the one model that selects from it, so the 9.6 M slots of the benchmark's full build are
-- written once instead of twice (meter_intervals reads them back from meter_intervals_15min).
-- Compiled on its own, inlined there: incremental_run() says whether the run is incremental.
{{ config(materialized='ephemeral') }}

-- depends_on: {{ ref('stg_interval_readings') }}

with

-- readings last at most 25 hours, so any reading touching a day in scope starts at most two
-- local days before it. The staging SQL runs here on only those raw rows (the same SQL as the
-- stg_interval_readings view, which would look for copies in the whole table before
-- filtering); an incremental run's few rows are read once and shared, a full build's every
-- row is read where each step needs it
datapoints as {{ inline_cte() }} (
    select *
    from (
        {{ staged_interval_readings(
            in_meter_day_scope('meter_uid', raw_reading_local_date(), days_before=2),
            share_source=incremental_run(),
        ) }}
    ) as staged
    where exclusion_reason is null
),

-- most of the work below is needed only for a few readings, so each Interval object (which
-- belongs to one meter) and channel is looked at first. In one channel every usage datapoint
-- is of the channel's type and every demand datapoint is `max`, so with one meter_number per
-- object and channel a reading has at most one datapoint per measure (the staging grain)
object_channels as (
    select
        meter_uid,
        interval_uid,
        channel,
        min(reading_start_at) as first_start_at,
        max(reading_end_at) as last_end_at,
        min(meter_number) = max(meter_number) as has_one_meter_number,
        sum(case when measure = 'usage' then 1 else 0 end) > 0
            and sum(case when measure = 'demand' then 1 else 0 end) > 0 as has_both_measures,
        -- readings of one length, all on the same grid of that length, cannot overlap
        min(duration_minutes) = max(duration_minutes)
            and min(mod(cast({{ epoch_seconds('reading_start_at') }} as bigint),
                cast(duration_minutes * 60 as bigint)))
            = max(mod(cast({{ epoch_seconds('reading_start_at') }} as bigint),
                cast(duration_minutes * 60 as bigint))) as has_disjoint_readings
    from datapoints
    group by meter_uid, interval_uid, channel
),

-- where the spans of two objects of one meter and channel overlap (a re-published day, an
-- hourly fill-in), their readings compete for slots; everywhere else a slot has one candidate
overlapping_spans as (
    select
        objects.interval_uid,
        objects.channel,
        min(greatest(objects.first_start_at, others.first_start_at)) as contested_from_at,
        max(least(objects.last_end_at, others.last_end_at)) as contested_to_at
    from object_channels as objects
    inner join object_channels as others
        on objects.meter_uid = others.meter_uid
        and objects.channel = others.channel
        and objects.interval_uid <> others.interval_uid
        and objects.first_start_at < others.last_end_at
        and others.first_start_at < objects.last_end_at
    group by objects.interval_uid, objects.channel
),

-- the part of each object whose readings may have competitors: from the first to the last
-- overlap with another object, or all of it when its own readings may overlap
contested_spans as (
    select
        object_channels.interval_uid,
        object_channels.channel,
        object_channels.has_one_meter_number,
        object_channels.has_both_measures,
        case
            when object_channels.has_disjoint_readings
                then overlapping_spans.contested_from_at
            else object_channels.first_start_at
        end as contested_from_at,
        case
            when object_channels.has_disjoint_readings
                then overlapping_spans.contested_to_at
            else object_channels.last_end_at
        end as contested_to_at
    from object_channels
    left join overlapping_spans
        on object_channels.interval_uid = overlapping_spans.interval_uid
        and object_channels.channel = overlapping_spans.channel
),

classified as (
    select
        datapoints.*,
        contested_spans.has_one_meter_number,
        contested_spans.has_both_measures,
        coalesce(
            datapoints.reading_start_at < contested_spans.contested_to_at
            and datapoints.reading_end_at > contested_spans.contested_from_at,
            false
        ) as is_contested
    from datapoints
    inner join contested_spans
        on datapoints.interval_uid = contested_spans.interval_uid
        and datapoints.channel = contested_spans.channel
),

-- one datapoint is the whole reading
single_datapoint_readings as (
    select
        interval_uid,
        reading_start_at,
        channel,
        meter_uid,
        reading_end_at,
        reading_start_local,
        utc_offset_minutes,
        end_utc_offset_minutes,
        duration_minutes,
        interval_updated_at,
        interval_created_at,
        case when measure = 'usage' then value end as usage_value,
        case when measure = 'usage' then coalesce(unit, '') end as usage_unit,
        case when measure = 'usage' then coalesce(unit, '') end as usage_unit_last,
        case when measure = 'demand' then value end as demand_kw,
        is_contested
    from classified
    where has_one_meter_number and not has_both_measures
),

usage_datapoints as (
    select * from classified
    where has_one_meter_number and has_both_measures and measure = 'usage'
),

demand_datapoints as (
    select * from classified
    where has_one_meter_number and has_both_measures and measure = 'demand'
),

-- a usage and a demand datapoint of one reading (15-minute kWh with kW demand)
paired_readings as (
    select
        coalesce(usage_datapoints.interval_uid, demand_datapoints.interval_uid) as interval_uid,
        coalesce(usage_datapoints.reading_start_at, demand_datapoints.reading_start_at)
            as reading_start_at,
        coalesce(usage_datapoints.channel, demand_datapoints.channel) as channel,
        coalesce(usage_datapoints.meter_uid, demand_datapoints.meter_uid) as meter_uid,
        coalesce(usage_datapoints.reading_end_at, demand_datapoints.reading_end_at)
            as reading_end_at,
        coalesce(usage_datapoints.reading_start_local, demand_datapoints.reading_start_local)
            as reading_start_local,
        coalesce(usage_datapoints.utc_offset_minutes, demand_datapoints.utc_offset_minutes)
            as utc_offset_minutes,
        coalesce(
            usage_datapoints.end_utc_offset_minutes, demand_datapoints.end_utc_offset_minutes
        ) as end_utc_offset_minutes,
        coalesce(usage_datapoints.duration_minutes, demand_datapoints.duration_minutes)
            as duration_minutes,
        coalesce(usage_datapoints.interval_updated_at, demand_datapoints.interval_updated_at)
            as interval_updated_at,
        coalesce(usage_datapoints.interval_created_at, demand_datapoints.interval_created_at)
            as interval_created_at,
        usage_datapoints.value as usage_value,
        coalesce(usage_datapoints.unit, '') as usage_unit,
        coalesce(usage_datapoints.unit, '') as usage_unit_last,
        demand_datapoints.value as demand_kw,
        coalesce(usage_datapoints.is_contested, false)
            or coalesce(demand_datapoints.is_contested, false) as is_contested
    from usage_datapoints
    full outer join demand_datapoints
        on usage_datapoints.interval_uid = demand_datapoints.interval_uid
        and usage_datapoints.reading_start_at = demand_datapoints.reading_start_at
        and usage_datapoints.channel = demand_datapoints.channel
),

-- a service with several physical meters publishes a datapoint per meter_number; one without
-- meter_number is the service total and wins over them
combined_readings as (
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
            sum(case when measure = 'usage' and meter_number = '' then value end),
            sum(case when measure = 'usage' then value end)
        ) as usage_value,
        min(case when measure = 'usage' then coalesce(unit, '') end) as usage_unit,
        max(case when measure = 'usage' then coalesce(unit, '') end) as usage_unit_last,
        coalesce(
            sum(case when measure = 'demand' and meter_number = '' then value end),
            sum(case when measure = 'demand' then value end)
        ) as demand_kw,
        max(case when is_contested then 1 else 0 end) = 1 as is_contested
    from classified
    where not has_one_meter_number
    group by interval_uid, reading_start_at, channel
),

pivoted as (
    select * from single_datapoint_readings
    union all
    select * from paired_readings
    union all
    select * from combined_readings
),

readings as (
    select
        meter_uid,
        channel,
        interval_uid,
        reading_start_at,
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
        interval_created_at,
        is_contested
    from pivoted
    where (usage_unit = usage_unit_last and usage_value is not null) or demand_kw is not null
),

digits as (
    select 0 as digit union all select 1 union all select 2 union all select 3
    union all select 4 union all select 5 union all select 6 union all select 7
    union all select 8 union all select 9
),

-- slot k of a reading of n slots, for n up to 100 (25 hours)
slot_offsets as (
    select
        counts.slot_count,
        indexes.slot_index
    from (
        select tens.digit * 10 + ones.digit + 1 as slot_count
        from digits as tens
        cross join digits as ones
    ) as counts
    inner join (
        select tens.digit * 10 + ones.digit as slot_index
        from digits as tens
        cross join digits as ones
    ) as indexes
        on indexes.slot_index < counts.slot_count
),

-- a reading longer than 15 minutes is spread evenly over its slots; demand (kW) is a rate, so
-- each slot keeps the reading's maximum rather than a share of it
slots as (
    select
        readings.meter_uid,
        readings.channel,
        {{ add_minutes('readings.reading_start_at', 'slot_offsets.slot_index * 15') }}
            as slot_start_at,
        -- DST changes fall on reading boundaries for 15-minute and hourly data, so every slot of
        -- a reading keeps the offset of its start and only the last slot ends on the end offset
        -- (the local clock of a slot is the reading's plus whole slots)
        readings.utc_offset_minutes,
        case
            when slot_offsets.slot_index = readings.slot_count - 1
                then readings.end_utc_offset_minutes
            else readings.utc_offset_minutes
        end as end_utc_offset_minutes,
        {{ add_minutes('readings.reading_start_local', 'slot_offsets.slot_index * 15') }}
            as slot_start_local,
        readings.quantity / readings.slot_count as quantity,
        readings.unit,
        readings.demand_kw,
        readings.duration_minutes as source_duration_minutes,
        readings.interval_uid,
        readings.reading_start_at,
        readings.interval_updated_at,
        readings.interval_created_at,
        readings.is_contested
    from readings
    inner join slot_offsets
        on readings.slot_count = slot_offsets.slot_count
),

slots_in_scope as (
    select *
    from slots
    where {{ in_meter_day_scope('meter_uid', 'cast(slot_start_local as date)') }}
),

-- every candidate for a slot is contested when any is, so only those are ranked
ranked as (
    select
        *,
        row_number() over (
            partition by meter_uid, channel, slot_start_at
            order by
                case when quantity is null then 1 else 0 end,
                source_duration_minutes,
                case when interval_updated_at is null then 1 else 0 end,
                interval_updated_at desc,
                case when interval_created_at is null then 1 else 0 end,
                interval_created_at desc,
                interval_uid desc
        ) as candidate_rank
    from slots_in_scope
    where is_contested
),

winners as (
    select
        meter_uid,
        channel,
        slot_start_at,
        utc_offset_minutes,
        end_utc_offset_minutes,
        slot_start_local,
        quantity,
        unit,
        demand_kw,
        source_duration_minutes,
        interval_uid,
        reading_start_at,
        interval_updated_at
    from slots_in_scope
    where not is_contested
    union all
    select
        meter_uid,
        channel,
        slot_start_at,
        utc_offset_minutes,
        end_utc_offset_minutes,
        slot_start_local,
        quantity,
        unit,
        demand_kw,
        source_duration_minutes,
        interval_uid,
        reading_start_at,
        interval_updated_at
    from ranked
    where candidate_rank = 1
),

objects as (
    select * from {{ ref('stg_interval_objects') }}
),

-- the winning reading's object carries the utility's notes about its data (e.g. "strange")
final as (
    select
        winners.meter_uid,
        winners.channel,
        winners.slot_start_at,
        winners.slot_start_local,
        cast(winners.slot_start_local as date) as local_date,
        winners.utc_offset_minutes,
        winners.end_utc_offset_minutes,
        winners.quantity,
        winners.unit,
        winners.demand_kw,
        winners.source_duration_minutes,
        winners.interval_uid,
        winners.reading_start_at,
        winners.interval_updated_at,
        objects.note_types as quality_note_types
    from winners
    left join objects
        on winners.interval_uid = objects.interval_uid
)

select * from final
