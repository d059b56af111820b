
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    

with all_values as (

    select
        peak_method as value_field,
        count(*) as n_records

    from "uapi"."analytics"."meter_monthly_peaks"
    group by peak_method

)

select *
from all_values
where value_field not in (
    'reported_demand','interval_energy','unavailable'
)



  
  
      
    ) dbt_internal_test