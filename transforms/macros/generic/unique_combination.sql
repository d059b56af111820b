{#- The combination of `columns` is unique: the grain of a model (or the key of a raw table).
    Fails with one row per duplicated combination. With `meter_day_column`, an incremental run
    checks only the rows of its meter-day scope (a full build checks them all): the rest did
    not change since the run that checked them. Where the warehouse hashes cheaply, repeated
    hashes are found first and only their rows grouped by the key (key_hash); `hash_first`
    false skips that for a costly view, which it would read twice. -#}
{% test unique_combination(model, columns, meter_day_column=none, hash_first=true) %}
    {%- set key = columns | join(', ') -%}
    {%- set hashed = key_hash(columns) if hash_first else none -%}
    {%- set in_scope = in_tested_scope('meter_uid', meter_day_column) if meter_day_column
        else 'true' %}
    select
        {{ key }},
        count(*) as copies
    from {{ model }}
    where {{ in_scope }}
    {%- if hashed %}
        and {{ hashed }} in (
            {{ repeated_key_hashes(
                'select ' ~ hashed ~ ' as key_hash from ' ~ model ~ ' where ' ~ in_scope
            ) }}
        )
    {%- endif %}
    group by {{ key }}
    having count(*) > 1
{% endtest %}
