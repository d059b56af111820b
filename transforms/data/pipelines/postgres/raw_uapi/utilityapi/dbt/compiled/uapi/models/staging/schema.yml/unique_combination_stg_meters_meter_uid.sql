select
        meter_uid,
        count(*) as copies
    from "uapi"."analytics"."stg_meters"
    group by meter_uid
    having count(*) > 1
