
    
    



select hour_start_at
from "uapi"."analytics"."meter_hourly_usage"
where hour_start_at is null


