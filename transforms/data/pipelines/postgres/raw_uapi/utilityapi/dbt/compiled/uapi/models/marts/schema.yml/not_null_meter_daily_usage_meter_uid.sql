
    
    



select meter_uid
from "uapi"."analytics"."meter_daily_usage"
where meter_uid is null


