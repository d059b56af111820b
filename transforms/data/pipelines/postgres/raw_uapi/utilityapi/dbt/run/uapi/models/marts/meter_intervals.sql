
      delete from "uapi"."analytics"."meter_intervals"
    where exists (
        select 1
        from "uapi"."analytics"."int_meter_days_in_scope" as scope
        where scope.meter_uid = meter_intervals.meter_uid
            and meter_intervals.local_date
                between scope.from_local_date and scope.to_local_date
    );

    insert into "uapi"."analytics"."meter_intervals" ("meter_uid", "channel", "interval_start_at", "interval_end_at", "interval_start_local", "local_date", "utc_offset_minutes", "time_zone", "duration_minutes", "kwh", "quantity", "unit", "demand_kw", "is_partial", "source_duration_minutes", "interval_uid", "interval_updated_at", "quality_note_types", "is_flagged")
    select "meter_uid", "channel", "interval_start_at", "interval_end_at", "interval_start_local", "local_date", "utc_offset_minutes", "time_zone", "duration_minutes", "kwh", "quantity", "unit", "demand_kw", "is_partial", "source_duration_minutes", "interval_uid", "interval_updated_at", "quality_note_types", "is_flagged"
    from "meter_intervals__dbt_tmp065912840830"

  