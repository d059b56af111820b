{#- The few expressions that differ between warehouses, each behind adapter.dispatch with a
    standard-SQL `default__` (what DuckDB and Postgres both run). -#}

{#- Seconds since the epoch of a timestamptz, as a number. -#}
{% macro epoch_seconds(timestamp) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'uapi')(timestamp)) }}
{%- endmacro %}

{% macro default__epoch_seconds(timestamp) -%}
    extract(epoch from {{ timestamp }})
{%- endmacro %}

{% macro bigquery__epoch_seconds(timestamp) -%}
    unix_seconds({{ timestamp }})
{%- endmacro %}

{% macro snowflake__epoch_seconds(timestamp) -%}
    date_part(epoch_second, {{ timestamp }})
{%- endmacro %}

{% macro databricks__epoch_seconds(timestamp) -%}
    unix_timestamp({{ timestamp }})
{%- endmacro %}

{#- The minutes past the hour of a wall clock (a timestamp without time zone), 0-59. -#}
{% macro minute_of(timestamp) -%}
    {{ return(adapter.dispatch('minute_of', 'uapi')(timestamp)) }}
{%- endmacro %}

{% macro default__minute_of(timestamp) -%}
    cast(extract(minute from {{ timestamp }}) as integer)
{%- endmacro %}

{#- A timestamp (with or without time zone) moved by a number of minutes. -#}
{% macro add_minutes(timestamp, minutes) -%}
    {{ return(adapter.dispatch('add_minutes', 'uapi')(timestamp, minutes)) }}
{%- endmacro %}

{% macro default__add_minutes(timestamp, minutes) -%}
    ({{ timestamp }} + ({{ minutes }}) * interval '1 minute')
{%- endmacro %}

{% macro bigquery__add_minutes(timestamp, minutes) -%}
    timestamp_add({{ timestamp }}, interval cast({{ minutes }} as int64) minute)
{%- endmacro %}

{% macro snowflake__add_minutes(timestamp, minutes) -%}
    dateadd(minute, {{ minutes }}, {{ timestamp }})
{%- endmacro %}

{#- A date moved by a number of days, still a date. -#}
{% macro add_days(date, days) -%}
    {{ return(adapter.dispatch('add_days', 'uapi')(date, days)) }}
{%- endmacro %}

{% macro default__add_days(date, days) -%}
    cast({{ dbt.dateadd('day', days, date) }} as date)
{%- endmacro %}

{% macro duckdb__add_days(date, days) -%}
    ({{ date }} + ({{ days }}))
{%- endmacro %}

{% macro postgres__add_days(date, days) -%}
    ({{ date }} + ({{ days }}))
{%- endmacro %}

{#- The UTC wall clock of a timestamptz, as a timestamp without time zone: independent of the
    session's time zone. -#}
{% macro utc_wall_clock(timestamp) -%}
    {{ return(adapter.dispatch('utc_wall_clock', 'uapi')(timestamp)) }}
{%- endmacro %}

{% macro default__utc_wall_clock(timestamp) -%}
    cast({{ timestamp }} at time zone 'UTC' as timestamp)
{%- endmacro %}

{#- microseconds since the epoch, read back as a wall clock: plain arithmetic, where `at time
    zone 'UTC'` goes through ICU's calendar for every row (16.5 M raw readings: 0.11 s instead of
    0.8 s; the staging computes two per reading) -#}
{% macro duckdb__utc_wall_clock(timestamp) -%}
    make_timestamp(epoch_us({{ timestamp }}))
{%- endmacro %}

{% macro bigquery__utc_wall_clock(timestamp) -%}
    datetime({{ timestamp }}, 'UTC')
{%- endmacro %}

{% macro snowflake__utc_wall_clock(timestamp) -%}
    convert_timezone('UTC', {{ timestamp }})::timestamp_ntz
{%- endmacro %}

{#- The wall clock of a timestamptz in an IANA zone (a column or a quoted literal), as a
    timestamp without time zone. -#}
{% macro zone_wall_clock(timestamp, zone) -%}
    {{ return(adapter.dispatch('zone_wall_clock', 'uapi')(timestamp, zone)) }}
{%- endmacro %}

{% macro default__zone_wall_clock(timestamp, zone) -%}
    cast({{ timestamp }} at time zone {{ zone }} as timestamp)
{%- endmacro %}

{% macro duckdb__zone_wall_clock(timestamp, zone) -%}
    {#- ICU's timezone(): `at time zone` needs a constant zone in some DuckDB versions -#}
    timezone({{ zone }}, {{ timestamp }})
{%- endmacro %}

{% macro bigquery__zone_wall_clock(timestamp, zone) -%}
    datetime({{ timestamp }}, {{ zone }})
{%- endmacro %}

{% macro snowflake__zone_wall_clock(timestamp, zone) -%}
    convert_timezone({{ zone }}, {{ timestamp }})::timestamp_ntz
{%- endmacro %}

{#- The type names the models cast to. -#}
{% macro type_timestamptz() -%}
    {{ return(adapter.dispatch('type_timestamptz', 'uapi')()) }}
{%- endmacro %}

{% macro default__type_timestamptz() -%}
    timestamp with time zone
{%- endmacro %}

{% macro bigquery__type_timestamptz() -%}
    timestamp
{%- endmacro %}

{% macro snowflake__type_timestamptz() -%}
    timestamp_tz
{%- endmacro %}

{% macro databricks__type_timestamptz() -%}
    timestamp
{%- endmacro %}

{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'uapi')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}

{#- A FROM-clause item: one row `(alias.column_name)` per step from `start` to `stop`
    inclusive, for every row of the tables before it (a lateral series). -#}
{% macro timestamp_series(start, stop, step_minutes, alias, column_name) -%}
    {{ return(adapter.dispatch('timestamp_series', 'uapi')(start, stop, step_minutes, alias, column_name)) }}
{%- endmacro %}

{% macro default__timestamp_series(start, stop, step_minutes, alias, column_name) -%}
    cross join lateral generate_series(
        {{ start }}, {{ stop }}, {{ step_minutes }} * interval '1 minute'
    ) as {{ alias }} ({{ column_name }})
{%- endmacro %}

{#- The instant at which a wall clock (timestamp without time zone) reads `local` in an IANA
    zone, as a timestamptz. -#}
{% macro zone_instant(local, zone) -%}
    {{ return(adapter.dispatch('zone_instant', 'uapi')(local, zone)) }}
{%- endmacro %}

{% macro default__zone_instant(local, zone) -%}
    ({{ local }} at time zone {{ zone }})
{%- endmacro %}

{% macro duckdb__zone_instant(local, zone) -%}
    timezone({{ zone }}, {{ local }})
{%- endmacro %}

{% macro snowflake__zone_instant(local, zone) -%}
    convert_timezone({{ zone }}, 'UTC', {{ local }})
{%- endmacro %}

{#- The UTC offset in minutes of an IANA zone at an instant (timestamptz). -#}
{% macro zone_offset_minutes(instant, zone) -%}
    cast(round((
        {{ epoch_seconds(zone_wall_clock(instant, zone)) }}
        - {{ epoch_seconds(utc_wall_clock(instant)) }}
    ) / 60) as integer)
{%- endmacro %}

{#- Run after each table a model builds: fresh planner statistics where the warehouse does not
    gather them as it writes. Postgres plans a fresh table's joins blind until autovacuum gets
    to it (a dbt test ran for over ten minutes on nested loops); DuckDB and the cloud
    warehouses keep their statistics themselves. -#}
{% macro refresh_statistics() -%}
    {{ return(adapter.dispatch('refresh_statistics', 'uapi')()) }}
{%- endmacro %}

{% macro default__refresh_statistics() -%}
{%- endmacro %}

{% macro postgres__refresh_statistics() -%}
    {%- if model.config.materialized != 'view' -%}
    analyze {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- A 64-bit hash of `columns` (a list of expressions) where the warehouse has a cheap one, else
    none. Sorting one hash finds repeats about three times as fast as grouping by four key
    columns (16.5 M raw rows on DuckDB: 0.76 s against 2.2 s; grouping by the hash 1.2 s), so
    a search for repeated keys first finds the few repeated hashes (repeated_key_hashes), then
    groups only their rows by the key itself: a collision costs a candidate, never a wrong
    answer. -#}
{% macro key_hash(columns) -%}
    {{ return(adapter.dispatch('key_hash', 'uapi')(columns)) }}
{%- endmacro %}

{% macro default__key_hash(columns) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro duckdb__key_hash(columns) -%}
    {{ return('hash(' ~ (columns | join(', ')) ~ ')') }}
{%- endmacro %}

{#- The hashes (key_hash) held by more than one row of `rows` (a query naming its hash
    `key_hash`): neighbours in hash order, which sorts faster than it groups. -#}
{% macro repeated_key_hashes(rows) -%}
    select key_hash
    from (
        select key_hash, lag(key_hash) over (order by key_hash) as previous_hash
        from ({{ rows }}) as hashed_rows
    ) as ordered
    where key_hash = previous_hash
{%- endmacro %}

{#- Written between a CTE's name and its body (`name as {{ inline_cte() }} (...)`): on a full
    build the CTE is inlined where it is used instead of being materialized because it is used
    more than once. For a CTE that reads a large table and keeps most of its rows, reading it
    twice is cheaper than holding it whole (DuckDB, a full build over 16.5 M raw rows: each of
    int_slots_resolved, meter_intervals and meter_intervals_15min ~1 s faster). An incremental
    run keeps it materialized: there the CTE filters a whole table down to the run's scope,
    and filtering twice cost more (all 320 meters x 1 day: 13.8 s of models instead of 19; the
    tests that stage raw rows, 10.6 M readings, 5 meters' last day: daily_net_kwh_equals_raw_net_kwh
    0.23 s instead of 0.7, latest_publication_wins 0.5 s instead of 1.1).
    `incremental_too`: for a CTE that selects a whole table (a filter on a column at most), so
    that an incremental run inlines it as well: DuckDB would hold a copy of every row because
    two steps read it, though each takes only a few meters' rows (the grid, 9.6 M rows, 5
    meters' last day: meter_daily_usage's query 0.08 s instead of 0.62, meter_monthly_peaks'
    0.13 s instead of 0.44). -#}
{% macro inline_cte(incremental_too=false) -%}
    {{ return(adapter.dispatch('inline_cte', 'uapi')(incremental_too)) }}
{%- endmacro %}

{% macro default__inline_cte(incremental_too) -%}
{%- endmacro %}

{% macro duckdb__inline_cte(incremental_too) -%}
    {%- if incremental_too or not incremental_run() %}not materialized{% endif -%}
{%- endmacro %}
