
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select time_zone_status
from "uapi"."analytics"."meter_time_zones"
where time_zone_status is null



  
  
      
    ) dbt_internal_test