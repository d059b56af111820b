
    
    select
      count(*) as failures,
      count(*) != 0 as should_warn,
      count(*) != 0 as should_error
    from (
      
    
  select
        bill_uid,
        count(*) as copies
    from "uapi"."analytics"."stg_bills"
    group by bill_uid
    having count(*) > 1

  
  
      
    ) dbt_internal_test