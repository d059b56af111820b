
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  select
        utility_id,
        count(*) as copies
    from "uapi"."analytics"."utility_time_zones"
    group by utility_id
    having count(*) > 1

  
  
      
    ) dbt_internal_test