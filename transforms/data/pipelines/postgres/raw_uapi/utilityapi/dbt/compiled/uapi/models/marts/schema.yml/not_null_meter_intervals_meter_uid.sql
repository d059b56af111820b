
    
    



select meter_uid
from "uapi"."analytics"."meter_intervals"
where meter_uid is null


