{#- Every meter that has readings or a meter row, with its utility when known. -#}
with

meters as (
    select meter_uid, utility from {{ ref('stg_meters') }}
),

-- the raw table, not the staging view: a duplicate changes no list of meters
raw_readings as (
    {{ select_from_source('utilityapi', 'interval_readings') }}
),

meters_with_readings as (
    select distinct meter_uid from raw_readings
),

final as (
    select
        coalesce(meters.meter_uid, meters_with_readings.meter_uid) as meter_uid,
        meters.utility
    from meters
    full outer join meters_with_readings
        on meters.meter_uid = meters_with_readings.meter_uid
)

select * from final
