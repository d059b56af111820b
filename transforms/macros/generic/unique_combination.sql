{#- The combination of `columns` is unique: the grain of a model (or the key of a raw table).
    Fails with one row per duplicated combination. -#}
{% test unique_combination(model, columns) %}
    {%- set key = columns | join(', ') -%}
    select
        {{ key }},
        count(*) as copies
    from {{ model }}
    group by {{ key }}
    having count(*) > 1
{% endtest %}
