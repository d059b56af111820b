
    
    



select meter_uid
from "uapi"."analytics"."meter_time_zones"
where meter_uid is null


