
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select slot_start_at
from "uapi"."analytics"."int_slots_resolved"
where slot_start_at is null



  
  
      
    ) dbt_internal_test