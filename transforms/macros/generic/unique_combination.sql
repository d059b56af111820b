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
    where {{ meter_day_in(scope_relation, 'meter_uid', meter_day_column) }}
    {%- endif %}
    group by {{ key }}
    having count(*) > 1
{% endtest %}
