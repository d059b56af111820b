
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  
    
    

with all_values as (

    select
        time_zone_status as value_field,
        count(*) as n_records

    from "uapi"."analytics"."meter_time_zones"
    group by time_zone_status

)

select *
from all_values
where value_field not in (
    'ok','offset_mismatch','unknown_utility'
)



  
  
      
    ) dbt_internal_test