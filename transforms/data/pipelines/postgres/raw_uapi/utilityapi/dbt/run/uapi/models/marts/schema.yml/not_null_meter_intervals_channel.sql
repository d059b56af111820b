
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select channel
from "uapi"."analytics"."meter_intervals"
where channel is null



  
  
      
    ) dbt_internal_test