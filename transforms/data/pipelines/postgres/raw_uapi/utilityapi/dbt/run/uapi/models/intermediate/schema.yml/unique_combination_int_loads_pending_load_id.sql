
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  select
        load_id,
        count(*) as copies
    from "uapi"."analytics"."int_loads_pending"
    group by load_id
    having count(*) > 1

  
  
      
    ) dbt_internal_test