with

source as (
    {{ select_from_source('utilityapi', 'interval_objects') }}
),

final as (
    select
        uid as interval_uid,
        meter_uid,
        cast(updated_at as {{ type_timestamptz() }}) as interval_updated_at,
        -- '' means no notes: null reads better in the marts
        nullif(note_types, '') as note_types,
        cast(first_start_at as {{ type_timestamptz() }}) as first_start_at,
        cast(last_end_at as {{ type_timestamptz() }}) as last_end_at,
        _dlt_load_id
    from source
)

select * from final
