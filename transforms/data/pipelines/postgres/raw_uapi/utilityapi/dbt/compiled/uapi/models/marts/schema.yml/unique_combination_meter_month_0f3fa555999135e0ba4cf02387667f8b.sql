select
        meter_uid, month_start_local,
        count(*) as copies
    from "uapi"."analytics"."meter_monthly_peaks"
    group by meter_uid, month_start_local
    having count(*) > 1
