select
        meter_uid, local_date,
        count(*) as copies
    from "uapi"."analytics"."meter_daily_solar"
    where exists (
        select 1
        from (
            select
                meter_uid as scope_meter_uid,
                from_local_date as scope_from_local_date,
                to_local_date as scope_to_local_date
            from "uapi"."analytics"."int_meter_days_in_scope"
        ) as scope
        where scope.scope_meter_uid = meter_uid
            and local_date
                between scope.scope_from_local_date and scope.scope_to_local_date
    )
    group by meter_uid, local_date
    having count(*) > 1
