{#- Incremental strategy `meter_days`: delete+insert on the meter-day scope of the run.

    A model configured with `incremental_strategy='meter_days'` selects only the meter-days in
    `int_meter_days_in_scope` when is_incremental(); this deletes every row of the target in
    that scope (also rows the new selection no longer produces) and inserts the new selection,
    in the model's transaction. dbt's own delete+insert deletes only keys present in the new
    rows, which would leave such rows behind. -#}
{% macro get_incremental_meter_days_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where exists (
        select 1
        from {{ ref('int_meter_days_in_scope') }} as scope
        where scope.meter_uid = {{ target.identifier }}.meter_uid
            and {{ target.identifier }}.local_date
                between scope.from_local_date and scope.to_local_date
    );

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }}
{% endmacro %}

{#- Whether the node being compiled reads only the run's meter-day scope: is_incremental()
    for an incremental model; for an ephemeral one (int_slots_resolved: compiled on its own, where
    is_incremental() is always false, and inlined into the incremental model that selects from
    it) and for a dbt test (which in_tested_scope filters) a run without dbt's --full-refresh,
    which the runner passes for every full build; never for a view or a table. -#}
{% macro incremental_run() %}
    {%- if model.config.materialized == 'incremental' -%}
        {{ return(is_incremental()) }}
    {%- elif model.config.materialized in ('ephemeral', 'test') -%}
        {{ return(not flags.FULL_REFRESH) }}
    {%- endif -%}
    {{ return(false) }}
{% endmacro %}

{#- The rows of `relation` (a CTE or model) that lie in the run's meter-day scope, widened by
    `days_before`/`days_after`; everything on a full build. -#}
{% macro in_meter_day_scope(meter_column, date_column, days_before=0, days_after=0) %}
    {#- ref() outside the condition, so dbt records the dependency while parsing -#}
    {%- set scope_relation = ref('int_meter_days_in_scope') -%}
    {%- if incremental_run() -%}
    {{ meter_day_in(scope_relation, meter_column, date_column, days_before, days_after) }}
    {%- else -%}
    true
    {%- endif -%}
{% endmacro %}

{#- For a dbt test: the row lies in the meter-days this run recomputed, on an incremental run
    (widened like in_meter_day_scope); on a full build (dbt's --full-refresh, which the runner
    passes for every full build) every row is in scope, so no filter. Tests cannot use
    in_meter_day_scope: is_incremental() is a model's. -#}
{% macro in_tested_scope(meter_column, date_column, days_before=0, days_after=0) %}
    {#- ref() outside the condition, so dbt records the dependency while parsing -#}
    {%- set scope_relation = ref('int_meter_days_in_scope') -%}
    {%- if flags.FULL_REFRESH -%}
    true
    {%- else -%}
    {{ meter_day_in(scope_relation, meter_column, date_column, days_before, days_after) }}
    {%- endif -%}
{% endmacro %}

{#- For a dbt test of a raw table: on an incremental run, the row's `column` (a key of the
    table, e.g. the Interval object) has a row in `relation` that came with a load the run takes
    in (int_loads_pending); on a full build every row, so no filter. -#}
{% macro in_tested_loads(column, relation) %}
    {#- ref() outside the condition, so dbt records the dependency while parsing -#}
    {%- set pending = ref('int_loads_pending') -%}
    {%- if flags.FULL_REFRESH -%}
    true
    {%- else -%}
    {{ column }} in (
        select {{ column }}
        from {{ relation }}
        where _dlt_load_id in (select load_id from {{ pending }})
    )
    {%- endif -%}
{% endmacro %}

{#- The row's meter and day fall in a meter-day range of `scope_relation` (meter_uid,
    from_local_date, to_local_date), widened by `days_before` and `days_after`. Two cheap
    filters come before the per-meter ranges: the meter alone (a plain semi-join the warehouse
    can push into the scan) and the dates between the scope's first and last day (constants
    once computed). So the ranges are joined only to rows that may match (DuckDB, 16.5 M raw
    rows, 3 meters in scope: 0.07 s instead of 1.3 s; a grain test on the 15.8 M-row grid with
    every meter's last four days in scope: 0.02 s instead of 0.5 s). -#}
{% macro meter_day_in(scope_relation, meter_column, date_column, days_before=0, days_after=0) %}
    ({{ meter_column }} in (select meter_uid from {{ scope_relation }})
    and {{ date_column }} between (
        select {{ add_days('min(from_local_date)', -days_before) }} from {{ scope_relation }}
    ) and (
        select {{ add_days('max(to_local_date)', days_after) }} from {{ scope_relation }}
    )
    and exists (
        {#- renamed, so that the caller's unqualified columns can only mean its own rows -#}
        select 1
        from (
            select
                meter_uid as scope_meter_uid,
                from_local_date as scope_from_local_date,
                to_local_date as scope_to_local_date
            from {{ scope_relation }}
        ) as scope
        where scope.scope_meter_uid = {{ meter_column }}
            and {{ date_column }}
                between {{ add_days('scope.scope_from_local_date', -days_before) }}
                and {{ add_days('scope.scope_to_local_date', days_after) }}
    ))
{% endmacro %}

{#- An analytics relation as it stands before this run, found without ref() (which would make
    a cycle: the run's scope is computed from what earlier runs built); none when missing. -#}
{% macro existing_analytics_relation(name) %}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=this.database, schema=this.schema, identifier=name)) }}
{% endmacro %}
