
with

source as (
    select *
    from (select
        "meter_uid" as "meter_uid",
        "authorization_uid" as "authorization_uid",
        "interval_uid" as "interval_uid",
        "start_at" as "start_at",
        "end_at" as "end_at",
        "utc_offset_minutes" as "utc_offset_minutes",
        "end_utc_offset_minutes" as "end_utc_offset_minutes",
        "type" as "type",
        "unit" as "unit",
        "value" as "value",
        "meter_number" as "meter_number",
        "interval_updated_at" as "interval_updated_at",
        "interval_created_at" as "interval_created_at",
        "_dlt_load_id" as "_dlt_load_id"
    from "uapi"."raw_uapi"."interval_readings"
) as raw_readings
    where true
),

-- the same datapoint loaded twice (an append, a replayed package) must never count twice:
-- keep the copy of the newest load (load ids sort in load order); the source test on the raw
-- key reports such copies as a warning
ranked as (
    select
        *,
        row_number() over (
            partition by meter_uid, interval_uid, start_at, type, meter_number
            order by _dlt_load_id desc, value desc, unit
        ) as copy_rank
    from source
),

deduplicated as (
    select * from ranked where copy_rank = 1
),

renamed as (
    select
        meter_uid,
        authorization_uid,
        interval_uid,
        meter_number,
        cast(start_at as timestamp with time zone) as reading_start_at,
        cast(end_at as timestamp with time zone) as reading_end_at,
        cast(utc_offset_minutes as integer) as utc_offset_minutes,
        cast(end_utc_offset_minutes as integer) as end_utc_offset_minutes,
        lower(type) as datapoint_type,
        lower(unit) as unit,
        value,
        cast(interval_updated_at as timestamp with time zone) as interval_updated_at,
        cast(interval_created_at as timestamp with time zone) as interval_created_at,
        _dlt_load_id
    from deduplicated
),

measured as (
    select
        *,
        (cast(reading_start_at at time zone 'UTC' as timestamp) + (utc_offset_minutes) * interval '1 minute')
            as reading_start_local,
        (cast(reading_end_at at time zone 'UTC' as timestamp) + (end_utc_offset_minutes) * interval '1 minute')
            as reading_end_local,
        extract(epoch from reading_start_at) as start_epoch,
        extract(epoch from reading_end_at) - extract(epoch from reading_start_at)
            as duration_seconds,
        -- `max` is the demand of the interval: it belongs to the net channel, in kW only
        case
            when datapoint_type in ('net', 'fwd', 'rev', 'gen') then datapoint_type
            when datapoint_type = 'max' then 'net'
        end as channel,
        case
            when datapoint_type in ('net', 'fwd', 'rev', 'gen') and coalesce(unit, '') <> 'kw'
                then 'usage'
            when datapoint_type = 'max' and unit = 'kw' then 'demand'
        end as measure
    from renamed
),

final as (
    select
        meter_uid,
        authorization_uid,
        interval_uid,
        meter_number,
        reading_start_at,
        reading_end_at,
        reading_start_local,
        reading_end_local,
        cast(reading_start_local as date) as reading_local_date,
        utc_offset_minutes,
        end_utc_offset_minutes,
        duration_seconds / 60 as duration_minutes,
        datapoint_type,
        channel,
        measure,
        unit,
        value,
        interval_updated_at,
        interval_created_at,
        _dlt_load_id,
        case
            when value is null then 'null value'
            when channel is null then 'unsupported datapoint type'
            when measure is null then 'unit does not fit the datapoint type'
            when duration_seconds <= 0 then 'end not after start'
            when mod(cast(start_epoch as bigint), 900) <> 0
                or mod(cast(duration_seconds as bigint), 900) <> 0
                then 'not on the 15-minute grid'
            when duration_seconds > 90000 then 'longer than 25 hours'
        end as exclusion_reason
    from measured
)

select * from final
