
      delete from "uapi"."analytics"."meter_daily_solar"
    where exists (
        select 1
        from "uapi"."analytics"."int_meter_days_in_scope" as scope
        where scope.meter_uid = meter_daily_solar.meter_uid
            and meter_daily_solar.local_date
                between scope.from_local_date and scope.to_local_date
    );

    insert into "uapi"."analytics"."meter_daily_solar" ("meter_uid", "local_date", "time_zone", "import_kwh", "export_kwh", "net_kwh", "generation_kwh", "coverage", "is_complete")
    select "meter_uid", "local_date", "time_zone", "import_kwh", "export_kwh", "net_kwh", "generation_kwh", "coverage", "is_complete"
    from "meter_daily_solar__dbt_tmp065915667219"

  