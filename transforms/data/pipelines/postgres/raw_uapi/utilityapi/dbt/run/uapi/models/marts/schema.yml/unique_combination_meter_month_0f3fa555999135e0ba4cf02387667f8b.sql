
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  select
        meter_uid, month_start_local,
        count(*) as copies
    from "uapi"."analytics"."meter_monthly_peaks"
    group by meter_uid, month_start_local
    having count(*) > 1

  
  
      
    ) dbt_internal_test