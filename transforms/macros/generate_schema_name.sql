{#- Models and seeds land in the schema they name (`analytics`), not dbt's default
    `<target schema>_analytics`, so every destination has the same schema names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
