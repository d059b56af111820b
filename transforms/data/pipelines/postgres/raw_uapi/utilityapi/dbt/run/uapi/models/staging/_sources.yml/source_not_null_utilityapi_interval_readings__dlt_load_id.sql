
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select _dlt_load_id
from "uapi"."raw_uapi"."interval_readings"
where _dlt_load_id is null



  
  
      
    ) dbt_internal_test