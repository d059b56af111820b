select
        interval_uid, start_at, type, meter_number,
        count(*) as copies
    from "uapi"."raw_uapi"."interval_readings"
    group by interval_uid, start_at, type, meter_number
    having count(*) > 1
