select
        utility_id,
        count(*) as copies
    from "uapi"."analytics"."utility_time_zones"
    group by utility_id
    having count(*) > 1
