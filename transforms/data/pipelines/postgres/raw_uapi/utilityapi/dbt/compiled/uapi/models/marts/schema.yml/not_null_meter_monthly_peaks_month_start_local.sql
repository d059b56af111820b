
    
    



select month_start_local
from "uapi"."analytics"."meter_monthly_peaks"
where month_start_local is null


