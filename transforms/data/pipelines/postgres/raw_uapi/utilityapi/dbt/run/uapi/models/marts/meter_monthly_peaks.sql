
      
        delete from "uapi"."analytics"."meter_monthly_peaks" as DBT_INTERNAL_DEST
        where (meter_uid, month_start_local) in (
            select distinct meter_uid, month_start_local
            from "meter_monthly_peaks__dbt_tmp065914467912" as DBT_INTERNAL_SOURCE
        );

    

    insert into "uapi"."analytics"."meter_monthly_peaks" ("meter_uid", "month_start_local", "time_zone", "peak_kw", "peak_method", "peak_interval_start_at", "kwh", "slots_present")
    (
        select "meter_uid", "month_start_local", "time_zone", "peak_kw", "peak_method", "peak_interval_start_at", "kwh", "slots_present"
        from "meter_monthly_peaks__dbt_tmp065914467912"
    )
  