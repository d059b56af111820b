
    
    



select channel
from "uapi"."analytics"."int_slots_resolved"
where channel is null


