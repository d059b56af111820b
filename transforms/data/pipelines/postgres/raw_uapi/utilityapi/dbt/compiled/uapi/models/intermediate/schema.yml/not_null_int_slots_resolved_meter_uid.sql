
    
    



select meter_uid
from "uapi"."analytics"."int_slots_resolved"
where meter_uid is null


