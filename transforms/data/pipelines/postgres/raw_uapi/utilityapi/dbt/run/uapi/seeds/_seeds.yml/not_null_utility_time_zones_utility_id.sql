
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select utility_id
from "uapi"."analytics"."utility_time_zones"
where utility_id is null



  
  
      
    ) dbt_internal_test