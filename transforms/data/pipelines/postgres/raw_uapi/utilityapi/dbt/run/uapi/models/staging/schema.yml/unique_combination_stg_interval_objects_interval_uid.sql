
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  select
        interval_uid,
        count(*) as copies
    from "uapi"."analytics"."stg_interval_objects"
    group by interval_uid
    having count(*) > 1

  
  
      
    ) dbt_internal_test