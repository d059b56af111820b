
    
    



select local_date
from "uapi"."analytics"."meter_intervals_15min"
where local_date is null


