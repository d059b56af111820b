select
        meter_uid,
        count(*) as copies
    from "uapi"."analytics"."meter_time_zones"
    group by meter_uid
    having count(*) > 1
