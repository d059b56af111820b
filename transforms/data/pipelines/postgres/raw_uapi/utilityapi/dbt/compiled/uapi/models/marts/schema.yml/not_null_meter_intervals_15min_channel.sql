
    
    



select channel
from "uapi"."analytics"."meter_intervals_15min"
where channel is null


