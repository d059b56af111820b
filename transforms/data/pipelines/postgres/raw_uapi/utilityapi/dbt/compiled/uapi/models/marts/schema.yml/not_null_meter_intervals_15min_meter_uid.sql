
    
    



select meter_uid
from "uapi"."analytics"."meter_intervals_15min"
where meter_uid is null


