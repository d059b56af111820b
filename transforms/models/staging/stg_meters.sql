with

source as (
    {{ select_from_source('utilityapi', 'meters') }}
),

final as (
    select
        uid as meter_uid,
        authorization_uid,
        utility
    from source
)

select * from final
