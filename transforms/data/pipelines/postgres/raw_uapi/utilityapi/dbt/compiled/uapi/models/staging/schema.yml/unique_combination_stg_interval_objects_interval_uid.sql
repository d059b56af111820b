select
        interval_uid,
        count(*) as copies
    from "uapi"."analytics"."stg_interval_objects"
    group by interval_uid
    having count(*) > 1
