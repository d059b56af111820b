select
        bill_uid,
        count(*) as copies
    from "uapi"."analytics"."stg_bills"
    group by bill_uid
    having count(*) > 1
