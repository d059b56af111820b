select
        load_id,
        count(*) as copies
    from "uapi"."analytics"."stg_dlt_loads"
    group by load_id
    having count(*) > 1
