
    
    



select local_date
from "uapi"."analytics"."meter_daily_solar"
where local_date is null


