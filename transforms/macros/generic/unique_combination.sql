{#- The combination of `columns` is unique: the grain of a model (or the key of a raw table).
    Fails with one row per duplicated combination. With `meter_day_column`, only the rows of
    the run's meter-day scope are checked (all of them on a full build): the rest did not
    change since the run that checked them. -#}
{% test unique_combination(model, columns, meter_day_column=none) %}
    {%- set key = columns | join(', ') -%}
    {%- set scope_relation = ref('int_meter_days_in_scope') if meter_day_column else none -%}
    select
        {{ key }},
        count(*) as copies
    from {{ model }}
    {%- if meter_day_column %}
    where exists (
        select 1
        from (
            select
                meter_uid as scope_meter_uid,
                from_local_date as scope_from_local_date,
                to_local_date as scope_to_local_date
            from {{ scope_relation }}
        ) as scope
        where scope.scope_meter_uid = meter_uid
            and {{ meter_day_column }}
                between scope.scope_from_local_date and scope.scope_to_local_date
    )
    {%- endif %}
    group by {{ key }}
    having count(*) > 1
{% endtest %}
