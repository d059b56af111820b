{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='bill_uid',
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('int_loads_pending') }}
-- depends_on: {{ ref('int_meter_days_in_scope') }}

with

all_bills as (
    select * from {{ ref('stg_bills') }}
),

{% if is_incremental() %}
-- bills loaded since the last run, and bills whose period overlaps recomputed meter-days
bills_in_scope as (
    select all_bills.bill_uid
    from all_bills
    inner join {{ ref('int_loads_pending') }} as pending_loads
        on all_bills._dlt_load_id = pending_loads.load_id
    union
    select all_bills.bill_uid
    from all_bills
    inner join {{ ref('int_meter_days_in_scope') }} as scope
        on all_bills.meter_uid = scope.meter_uid
        and cast({{ utc_wall_clock('all_bills.bill_end_at') }} as date)
            >= {{ add_days('scope.from_local_date', -1) }}
        and cast({{ utc_wall_clock('all_bills.bill_start_at') }} as date)
            <= {{ add_days('scope.to_local_date', 1) }}
),

bills as (
    select all_bills.*
    from all_bills
    inner join bills_in_scope
        on all_bills.bill_uid = bills_in_scope.bill_uid
),
{% else %}
bills as (
    select * from all_bills
),
{% endif %}

-- candidate local dates of each bill, a day wider on each side than its UTC dates, so that
-- the join to the slots is an equality join on meter and date (a join on the period alone
-- would compare every bill with every slot)
bill_days as (
    select
        bills.bill_uid,
        bills.meter_uid,
        bills.bill_start_at,
        bills.bill_end_at,
        cast(bill_day.day_at as date) as local_date
    from bills
    {{ timestamp_series(
        'cast(' ~ add_days('cast(' ~ utc_wall_clock('bills.bill_start_at') ~ ' as date)', -1) ~ ' as timestamp)',
        'cast(' ~ add_days('cast(' ~ utc_wall_clock('bills.bill_end_at') ~ ' as date)', 1) ~ ' as timestamp)',
        24 * 60, 'bill_day', 'day_at') }}
    where bills.bill_end_at > bills.bill_start_at
),

bill_slots as (
    select
        bill_days.bill_uid,
        slots.kwh,
        slots.quantity,
        slots.unit,
        slots.is_gap,
        slots.is_spread
    from bill_days
    inner join {{ ref('meter_intervals_15min') }} as slots
        on bill_days.meter_uid = slots.meter_uid
        and bill_days.local_date = slots.local_date
    where slots.channel = 'net'
        and slots.interval_start_at >= bill_days.bill_start_at
        and slots.interval_start_at < bill_days.bill_end_at
),

interval_totals as (
    select
        bill_uid,
        sum(kwh) as interval_kwh,
        min(unit) as min_unit,
        max(unit) as max_unit,
        sum(quantity) as interval_quantity,
        count(case when not is_gap then 1 end) as slots_present,
        count(case when is_spread then 1 end) as slots_spread
    from bill_slots
    group by bill_uid
),

joined as (
    select
        bills.*,
        case
            when interval_totals.min_unit = interval_totals.max_unit
                then interval_totals.interval_quantity
        end as interval_quantity,
        case
            when interval_totals.min_unit = interval_totals.max_unit
                then interval_totals.min_unit
        end as interval_unit,
        interval_totals.interval_kwh,
        coalesce(interval_totals.slots_present, 0) as slots_present,
        coalesce(interval_totals.slots_spread, 0) as slots_spread,
        cast(
            ({{ epoch_seconds('bills.bill_end_at') }} - {{ epoch_seconds('bills.bill_start_at') }})
            / 900 as integer
        ) as slots_expected
    from bills
    left join interval_totals
        on bills.bill_uid = interval_totals.bill_uid
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
        note_types,
        has_strange_note,
        billed_cost,
        billed_quantity,
        billed_unit,
        billed_kwh,
        interval_quantity,
        interval_unit,
        interval_kwh,
        case
            when interval_unit = billed_unit then interval_quantity - billed_quantity
        end as quantity_difference,
        case
            when interval_unit = billed_unit and billed_quantity <> 0
                then (interval_quantity - billed_quantity) / billed_quantity
        end as quantity_difference_ratio,
        interval_kwh - billed_kwh as kwh_difference,
        slots_expected,
        slots_present,
        slots_spread,
        case
            when slots_expected > 0
                then cast(slots_present as {{ type_double() }}) / slots_expected
        end as interval_coverage,
        slots_expected > 0 and slots_present = slots_expected as is_interval_complete
    from joined
)

select * from final
