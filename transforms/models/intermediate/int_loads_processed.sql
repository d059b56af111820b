{#- Built last in every run: the loads whose rows the analytics tables now include. The next
    run takes in only loads not listed here. It depends on every incremental model, so a model
    or an error-severity test that fails leaves it as it was: the next run recomputes the same
    meter-days again. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('meter_intervals') }}
-- depends_on: {{ ref('meter_daily_usage') }}
-- depends_on: {{ ref('bill_reconciliation') }}
-- depends_on: {{ ref('meter_hourly_usage') }}
-- depends_on: {{ ref('meter_monthly_peaks') }}
-- depends_on: {{ ref('meter_daily_solar') }}

with

pending_loads as (
    select * from {{ ref('int_loads_pending') }}
),

final as (
    select
        load_id,
        loaded_at,
        cast('{{ invocation_id }}' as {{ dbt.type_string() }}) as dbt_invocation_id,
        cast('{{ run_started_at.isoformat() }}' as {{ type_timestamptz() }}) as processed_at,
        cast('{{ var("uapi_project_fingerprint") }}' as {{ dbt.type_string() }})
            as project_fingerprint
    from pending_loads
)

select * from final
