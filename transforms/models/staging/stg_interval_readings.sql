-- grain: one row per published datapoint (interval object, reading start, type and meter number);
--   a cleaned 1:1 view of utilityapi.interval_readings
-- unique_key: interval_uid, reading_start_at, datapoint_type, meter_number
-- materialized: view
with

source as (
    select * from utilityapi.interval_readings
),

renamed as (
    select
        meter_uid,
        authorization_uid,
        interval_uid,
        meter_number,
        start_at as reading_start_at,
        end_at as reading_end_at,
        utc_offset_minutes,
        end_utc_offset_minutes,
        lower(type) as datapoint_type,
        lower(unit) as unit,
        value,
        interval_updated_at,
        interval_created_at
    from source
),

measured as (
    select
        *,
        cast(reading_start_at at time zone 'UTC' as timestamp)
            + utc_offset_minutes * interval '1 minute' as reading_start_local,
        cast(reading_end_at at time zone 'UTC' as timestamp)
            + end_utc_offset_minutes * interval '1 minute' as reading_end_local,
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
        case
            when value is null then 'null value'
            when channel is null then 'unsupported datapoint type'
            when measure is null then 'unit does not fit the datapoint type'
            when duration_seconds <= 0 then 'end not after start'
            when start_epoch % 900 <> 0 or duration_seconds % 900 <> 0
                then 'not on the 15-minute grid'
            when duration_seconds > 90000 then 'longer than 25 hours'
        end as exclusion_reason
    from measured
)

select * from final
