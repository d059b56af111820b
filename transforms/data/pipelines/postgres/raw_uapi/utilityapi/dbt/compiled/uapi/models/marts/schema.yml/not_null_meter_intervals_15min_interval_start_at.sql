
    
    



select interval_start_at
from "uapi"."analytics"."meter_intervals_15min"
where interval_start_at is null


