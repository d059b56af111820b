
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    



select month_start_local
from "uapi"."analytics"."meter_monthly_peaks"
where month_start_local is null



  
  
      
    ) dbt_internal_test