
  create view "uapi"."analytics"."stg_bills__dbt_tmp"
    
    
  as (
    with

source as (
    select
        cast(null as TEXT) as "uid",
        cast(null as TEXT) as "meter_uid",
        cast(null as TEXT) as "authorization_uid",
        cast(null as TEXT) as "utility",
        cast(null as timestamp with time zone) as "updated_at",
        cast(null as timestamp with time zone) as "bill_start_at",
        cast(null as timestamp with time zone) as "bill_end_at",
        cast(null as timestamp with time zone) as "bill_statement_at",
        cast(null as double precision) as "bill_total_cost",
        cast(null as double precision) as "bill_total_volume",
        cast(null as TEXT) as "bill_total_unit",
        cast(null as double precision) as "bill_total_kwh",
        cast(null as TEXT) as "note_types",
        cast(null as boolean) as "has_strange_note",
        cast(null as TEXT) as "_dlt_load_id"
    where 1 = 0

),

renamed as (
    select
        uid as bill_uid,
        meter_uid,
        authorization_uid,
        utility,
        -- timestamptz when dlt detected the ISO strings, text otherwise: the cast accepts both
        cast(bill_start_at as timestamp with time zone) as bill_start_at,
        cast(bill_end_at as timestamp with time zone) as bill_end_at,
        cast(bill_statement_at as timestamp with time zone) as bill_statement_at,
        cast(updated_at as timestamp with time zone) as bill_updated_at,
        bill_total_cost,
        bill_total_volume,
        lower(bill_total_unit) as bill_total_unit,
        bill_total_kwh,
        nullif(note_types, '') as note_types,
        coalesce(has_strange_note, false) as has_strange_note,
        _dlt_load_id
    from source
),

final as (
    select
        bill_uid,
        meter_uid,
        authorization_uid,
        utility,
        bill_start_at,
        bill_end_at,
        bill_statement_at,
        bill_updated_at,
        bill_total_cost as billed_cost,
        -- bill_total_kwh is the legacy field; the volume/unit pair is the current one
        case
            when bill_total_volume is not null then bill_total_volume
            when coalesce(bill_total_unit, 'kwh') = 'kwh' then bill_total_kwh
        end as billed_quantity,
        case
            when bill_total_volume is not null then bill_total_unit
            when bill_total_kwh is not null then 'kwh'
        end as billed_unit,
        case
            when bill_total_unit = 'kwh' and bill_total_volume is not null then bill_total_volume
            else bill_total_kwh
        end as billed_kwh,
        note_types,
        has_strange_note,
        _dlt_load_id
    from renamed
)

select * from final
  );