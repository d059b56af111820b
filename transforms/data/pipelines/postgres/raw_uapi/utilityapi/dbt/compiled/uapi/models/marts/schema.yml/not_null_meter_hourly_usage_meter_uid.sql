
    
    



select meter_uid
from "uapi"."analytics"."meter_hourly_usage"
where meter_uid is null


