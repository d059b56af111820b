
  create view "uapi"."analytics"."stg_meters__dbt_tmp"
    
    
  as (
    with

source as (
    select
        "uid" as "uid",
        "authorization_uid" as "authorization_uid",
        "utility" as "utility",
        "_dlt_load_id" as "_dlt_load_id"
    from "uapi"."raw_uapi"."meters"

),

final as (
    select
        uid as meter_uid,
        authorization_uid,
        utility
    from source
)

select * from final
  );