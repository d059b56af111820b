
    
    



select bill_uid
from "uapi"."analytics"."stg_bills"
where bill_uid is null


