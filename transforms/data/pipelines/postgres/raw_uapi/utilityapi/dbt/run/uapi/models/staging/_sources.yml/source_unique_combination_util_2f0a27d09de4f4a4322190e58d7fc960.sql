
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  select
        interval_uid, start_at, type, meter_number,
        count(*) as copies
    from "uapi"."raw_uapi"."interval_readings"
    group by interval_uid, start_at, type, meter_number
    having count(*) > 1

  
  
      
    ) dbt_internal_test