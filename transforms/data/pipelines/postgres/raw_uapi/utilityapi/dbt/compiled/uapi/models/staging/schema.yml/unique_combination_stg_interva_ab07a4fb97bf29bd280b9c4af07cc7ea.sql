select
        interval_uid, reading_start_at, datapoint_type, meter_number,
        count(*) as copies
    from "uapi"."analytics"."stg_interval_readings"
    group by interval_uid, reading_start_at, datapoint_type, meter_number
    having count(*) > 1
