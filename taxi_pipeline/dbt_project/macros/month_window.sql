{#- `column` inside the run's month window, [var('start_month'), var('end_month')): the
    Dagster partition's time window. Without the vars, every month. -#}
{% macro month_window(column) -%}
    {%- if var('start_month') and var('end_month') -%}
        {{ column }} >= cast('{{ var("start_month") }}' as timestamp)
        and {{ column }} < cast('{{ var("end_month") }}' as timestamp)
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
