
    
    



select meter_uid
from "uapi"."analytics"."meter_daily_solar"
where meter_uid is null


