select
        meter_uid,
        count(*) as copies
    from "uapi"."analytics"."int_meter_days_in_scope"
    group by meter_uid
    having count(*) > 1
