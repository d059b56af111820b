
    
    



select _dlt_load_id
from "uapi"."raw_uapi"."interval_readings"
where _dlt_load_id is null


