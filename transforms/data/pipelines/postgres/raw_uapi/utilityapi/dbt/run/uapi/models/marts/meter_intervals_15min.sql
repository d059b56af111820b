
      delete from "uapi"."analytics"."meter_intervals_15min"
    where exists (
        select 1
        from "uapi"."analytics"."int_meter_days_in_scope" as scope
        where scope.meter_uid = meter_intervals_15min.meter_uid
            and meter_intervals_15min.local_date
                between scope.from_local_date and scope.to_local_date
    );

    insert into "uapi"."analytics"."meter_intervals_15min" ("meter_uid", "channel", "interval_start_at", "interval_end_at", "interval_start_local", "local_date", "utc_offset_minutes", "time_zone", "kwh", "quantity", "unit", "demand_kw", "is_gap", "is_spread", "source_duration_minutes", "interval_uid", "interval_updated_at", "quality_note_types", "is_flagged")
    select "meter_uid", "channel", "interval_start_at", "interval_end_at", "interval_start_local", "local_date", "utc_offset_minutes", "time_zone", "kwh", "quantity", "unit", "demand_kw", "is_gap", "is_spread", "source_duration_minutes", "interval_uid", "interval_updated_at", "quality_note_types", "is_flagged"
    from "meter_intervals_15min__dbt_tmp065912850583"

  