with

source as (
    {{ select_from_source('utilityapi', '_dlt_loads') }}
),

final as (
    select
        load_id,
        cast(status as integer) as status,
        cast(inserted_at as {{ type_timestamptz() }}) as loaded_at
    from source
)

select * from final
