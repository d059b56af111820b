
    
    



select time_zone
from "uapi"."analytics"."utility_time_zones"
where time_zone is null


