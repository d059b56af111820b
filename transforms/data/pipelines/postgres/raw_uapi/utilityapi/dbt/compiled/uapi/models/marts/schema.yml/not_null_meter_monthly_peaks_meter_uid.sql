
    
    



select meter_uid
from "uapi"."analytics"."meter_monthly_peaks"
where meter_uid is null


