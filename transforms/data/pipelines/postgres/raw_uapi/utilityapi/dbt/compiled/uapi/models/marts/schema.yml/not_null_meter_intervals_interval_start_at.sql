
    
    



select interval_start_at
from "uapi"."analytics"."meter_intervals"
where interval_start_at is null


