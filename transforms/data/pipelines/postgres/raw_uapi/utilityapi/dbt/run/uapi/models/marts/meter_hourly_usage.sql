
      delete from "uapi"."analytics"."meter_hourly_usage"
    where exists (
        select 1
        from "uapi"."analytics"."int_meter_days_in_scope" as scope
        where scope.meter_uid = meter_hourly_usage.meter_uid
            and meter_hourly_usage.local_date
                between scope.from_local_date and scope.to_local_date
    );

    insert into "uapi"."analytics"."meter_hourly_usage" ("meter_uid", "channel", "hour_start_at", "hour_start_local", "local_date", "utc_offset_minutes", "time_zone", "kwh", "quantity", "unit", "peak_demand_kw", "slots_present", "slots_spread", "slots_flagged", "is_complete_hour")
    select "meter_uid", "channel", "hour_start_at", "hour_start_local", "local_date", "utc_offset_minutes", "time_zone", "kwh", "quantity", "unit", "peak_demand_kw", "slots_present", "slots_spread", "slots_flagged", "is_complete_hour"
    from "meter_hourly_usage__dbt_tmp065914331719"

  