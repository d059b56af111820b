
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select local_date
from "uapi"."analytics"."meter_daily_solar"
where local_date is null



  
  
      
    ) dbt_internal_test