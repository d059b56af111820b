
    
    



select utility_id
from "uapi"."analytics"."utility_time_zones"
where utility_id is null


