
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select time_zone
from "uapi"."analytics"."utility_time_zones"
where time_zone is null



  
  
      
    ) dbt_internal_test