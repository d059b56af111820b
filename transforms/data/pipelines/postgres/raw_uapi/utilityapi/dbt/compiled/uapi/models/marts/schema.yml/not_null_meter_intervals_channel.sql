
    
    



select channel
from "uapi"."analytics"."meter_intervals"
where channel is null


