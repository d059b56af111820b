select
        load_id,
        count(*) as copies
    from "uapi"."analytics"."int_loads_pending"
    group by load_id
    having count(*) > 1
