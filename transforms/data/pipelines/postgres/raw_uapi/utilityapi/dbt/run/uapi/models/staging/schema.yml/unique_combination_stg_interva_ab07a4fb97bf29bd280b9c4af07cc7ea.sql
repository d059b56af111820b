
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  select
        interval_uid, reading_start_at, datapoint_type, meter_number,
        count(*) as copies
    from "uapi"."analytics"."stg_interval_readings"
    group by interval_uid, reading_start_at, datapoint_type, meter_number
    having count(*) > 1

  
  
      
    ) dbt_internal_test