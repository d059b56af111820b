
    
    



select local_date
from "uapi"."analytics"."meter_daily_usage"
where local_date is null


