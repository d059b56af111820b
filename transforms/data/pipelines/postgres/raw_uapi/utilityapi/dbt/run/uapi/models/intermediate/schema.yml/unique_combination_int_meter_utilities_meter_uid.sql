
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  select
        meter_uid,
        count(*) as copies
    from "uapi"."analytics"."int_meter_utilities"
    group by meter_uid
    having count(*) > 1

  
  
      
    ) dbt_internal_test