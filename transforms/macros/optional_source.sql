{#- `select <declared columns> from <raw table>` for a raw table declared in
    models/staging/_sources.yml, robust to what dlt may not have created yet: a table not
    loaded yet (no bills so far) gives no rows, and a declared column dlt did not create
    (it creates none for a field null in every row) reads as a typed null. Every declared
    column must have a `data_type` (text, timestamptz, double, bigint, boolean). -#}
{% macro select_from_source(source_name, table_name) %}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute -%}
        {#- parsing: only the dependency on the source matters -#}
        {{ return('select * from ' ~ relation) }}
    {%- endif -%}
    {%- set node = graph.sources.values() | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name) | first -%}
    {%- set existing = [] -%}
    {%- set found = load_relation(relation) -%}
    {%- if found is not none -%}
        {%- for column in adapter.get_columns_in_relation(found) -%}
            {%- do existing.append(column.name | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    select
    {%- for name, column in node.columns.items() %}
        {% if name in existing -%}
            {#- cast as declared, like the typed nulls below: on Postgres dlt's varchar and
                dbt's text would otherwise change an incremental model's column types the day
                a table first arrives -#}
            cast({{ adapter.quote(name) }} as {{ uapi_type(column.data_type) }})
        {%- else -%}
            cast(null as {{ uapi_type(column.data_type) }})
        {%- endif %} as {{ adapter.quote(name) }}{{ "," if not loop.last }}
    {%- endfor %}
    {% if found is not none -%}
    from {{ relation }}
    {%- else -%}
    {#- no FROM: one row of nulls, filtered out -#}
    where 1 = 0
    {%- endif %}
{% endmacro %}

{#- Whether a raw table exists yet (at execution time; true while parsing). -#}
{% macro source_exists(source_name, table_name) %}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(load_relation(source(source_name, table_name)) is not none) }}
{% endmacro %}

{% macro uapi_type(name) %}
    {%- set types = {
        'text': dbt.type_string(),
        'timestamptz': type_timestamptz(),
        'double': type_double(),
        'bigint': dbt.type_bigint(),
        'boolean': dbt.type_boolean(),
    } -%}
    {%- if name not in types -%}
        {{ exceptions.raise_compiler_error("unknown data_type '" ~ name ~ "' in _sources.yml") }}
    {%- endif -%}
    {{ return(types[name]) }}
{% endmacro %}
