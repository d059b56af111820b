
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select interval_start_at
from "uapi"."analytics"."meter_intervals_15min"
where interval_start_at is null



  
  
      
    ) dbt_internal_test