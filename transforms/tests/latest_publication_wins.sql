-- Where several 15-minute readings of one meter and channel cover a slot (a re-published
-- day), the one of the latest updated Interval object wins: no usable 15-minute reading of
-- the same slot is newer than the winner. Fails with one row per slot won by an older one.
-- An incremental run reads only the raw rows of its meter-days; a full build all of them.
{%- set scope_relation = ref('int_meter_days_in_scope') %}
with

scope as (
    select * from {{ scope_relation }}
),

winners as (
    select grid.*
    from {{ ref('meter_intervals_15min') }} as grid
    inner join scope
        on grid.meter_uid = scope.meter_uid
        and grid.local_date between scope.from_local_date and scope.to_local_date
    where not grid.is_gap
        and grid.source_duration_minutes = 15
        and grid.quantity is not null
),

raw_readings as (
    {{ select_from_source('utilityapi', 'interval_readings') }}
),

-- the newest usable 15-minute reading of each slot, from the raw rows (a copy loaded twice
-- changes no maximum), found by aggregation: a join of the readings with the grid on the
-- slot would be compared row by row on some warehouses
newest as (
    select
        meter_uid,
        lower(type) as channel,
        start_at as reading_start_at,
        max(interval_updated_at) as newest_updated_at
    from raw_readings
    where lower(type) in ('net', 'fwd', 'rev', 'gen')
        {%- if not flags.FULL_REFRESH %}
        and {{ meter_day_in(scope_relation, 'meter_uid', raw_reading_local_date()) }}
        {%- endif %}
        and coalesce(lower(unit), '') <> 'kw'
        and value is not null
        and {{ epoch_seconds('end_at') }} - {{ epoch_seconds('start_at') }} = 900
        and mod(cast({{ epoch_seconds('start_at') }} as bigint), 900) = 0
    group by meter_uid, lower(type), start_at
),

final as (
    select
        winners.meter_uid,
        winners.channel,
        winners.interval_start_at,
        winners.interval_uid as winner_uid,
        winners.interval_updated_at,
        newest.newest_updated_at
    from winners
    inner join newest
        on winners.meter_uid = newest.meter_uid
        and winners.channel = newest.channel
        and winners.interval_start_at = newest.reading_start_at
    where newest.newest_updated_at > winners.interval_updated_at
)

select * from final
