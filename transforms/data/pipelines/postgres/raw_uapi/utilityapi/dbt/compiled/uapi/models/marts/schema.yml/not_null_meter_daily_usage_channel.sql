
    
    



select channel
from "uapi"."analytics"."meter_daily_usage"
where channel is null


