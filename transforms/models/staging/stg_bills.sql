with

source as (
    {{ select_from_source('utilityapi', 'bills') }}
),

renamed as (
    select
        uid as bill_uid,
        meter_uid,
        authorization_uid,
        utility,
        -- timestamptz when dlt detected the ISO strings, text otherwise: the cast accepts both
        cast(bill_start_at as {{ type_timestamptz() }}) as bill_start_at,
        cast(bill_end_at as {{ type_timestamptz() }}) as bill_end_at,
        cast(bill_statement_at as {{ type_timestamptz() }}) as bill_statement_at,
        cast(updated_at as {{ type_timestamptz() }}) as bill_updated_at,
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
