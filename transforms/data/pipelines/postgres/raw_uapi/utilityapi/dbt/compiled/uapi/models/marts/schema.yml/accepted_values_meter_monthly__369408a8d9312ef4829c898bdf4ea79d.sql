
    
    

with all_values as (

    select
        peak_method as value_field,
        count(*) as n_records

    from "uapi"."analytics"."meter_monthly_peaks"
    group by peak_method

)

select *
from all_values
where value_field not in (
    'reported_demand','interval_energy','unavailable'
)


