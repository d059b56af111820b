
      delete from "uapi"."analytics"."int_slots_resolved"
    where exists (
        select 1
        from "uapi"."analytics"."int_meter_days_in_scope" as scope
        where scope.meter_uid = int_slots_resolved.meter_uid
            and int_slots_resolved.local_date
                between scope.from_local_date and scope.to_local_date
    );

    insert into "uapi"."analytics"."int_slots_resolved" ("meter_uid", "channel", "slot_start_at", "slot_start_local", "local_date", "utc_offset_minutes", "end_utc_offset_minutes", "quantity", "unit", "demand_kw", "source_duration_minutes", "interval_uid", "reading_start_at", "interval_updated_at", "quality_note_types")
    select "meter_uid", "channel", "slot_start_at", "slot_start_local", "local_date", "utc_offset_minutes", "end_utc_offset_minutes", "quantity", "unit", "demand_kw", "source_duration_minutes", "interval_uid", "reading_start_at", "interval_updated_at", "quality_note_types"
    from "int_slots_resolved__dbt_tmp065911012724"

  