
    
    



select slot_start_at
from "uapi"."analytics"."int_slots_resolved"
where slot_start_at is null


