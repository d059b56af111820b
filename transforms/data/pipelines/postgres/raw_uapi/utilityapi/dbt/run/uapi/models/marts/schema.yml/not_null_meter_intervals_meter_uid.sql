
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select meter_uid
from "uapi"."analytics"."meter_intervals"
where meter_uid is null



  
  
      
    ) dbt_internal_test