
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select bill_uid
from "uapi"."analytics"."stg_bills"
where bill_uid is null



  
  
      
    ) dbt_internal_test