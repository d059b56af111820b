-- grain: one row per bill, with the interval data of the same meter over the bill's period
--   [bill_start_at, bill_end_at) on the net channel
-- unique_key: bill_uid
-- materialized: incremental (scope: bills)
with

bills as (
    select bills.*
    from analytics.stg_bills as bills
    inner join analytics._scope_bills as scope
        on bills.bill_uid = scope.bill_uid
),

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
    cross join lateral generate_series(
        cast(cast(bills.bill_start_at at time zone 'UTC' as date) - 1 as timestamp),
        cast(cast(bills.bill_end_at at time zone 'UTC' as date) + 1 as timestamp),
        interval '1 day'
    ) as bill_day (day_at)
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
    inner join analytics.meter_intervals_15min as slots
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
        count(*) filter (where not is_gap) as slots_present,
        count(*) filter (where is_spread) as slots_spread
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
            extract(epoch from bills.bill_end_at - bills.bill_start_at) / 900 as integer
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
        is_estimated,
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
            when slots_expected > 0 then cast(slots_present as double precision) / slots_expected
        end as interval_coverage,
        slots_expected > 0 and slots_present = slots_expected as is_interval_complete
    from joined
)

select * from final
