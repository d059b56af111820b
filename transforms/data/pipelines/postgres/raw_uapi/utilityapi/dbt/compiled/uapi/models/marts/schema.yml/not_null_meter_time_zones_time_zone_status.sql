
    
    



select time_zone_status
from "uapi"."analytics"."meter_time_zones"
where time_zone_status is null


