
      delete from "uapi"."analytics"."meter_daily_usage"
    where exists (
        select 1
        from "uapi"."analytics"."int_meter_days_in_scope" as scope
        where scope.meter_uid = meter_daily_usage.meter_uid
            and meter_daily_usage.local_date
                between scope.from_local_date and scope.to_local_date
    );

    insert into "uapi"."analytics"."meter_daily_usage" ("meter_uid", "channel", "local_date", "time_zone", "kwh", "quantity", "unit", "peak_demand_kw", "slots_expected", "slots_present", "slots_spread", "slots_missing", "slots_flagged", "coverage", "is_complete")
    select "meter_uid", "channel", "local_date", "time_zone", "kwh", "quantity", "unit", "peak_demand_kw", "slots_expected", "slots_present", "slots_spread", "slots_missing", "slots_flagged", "coverage", "is_complete"
    from "meter_daily_usage__dbt_tmp065914187969"

  