
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select channel
from "uapi"."analytics"."int_slots_resolved"
where channel is null



  
  
      
    ) dbt_internal_test