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

{#- The months of the run's window as BigQuery partition literals, for insert_overwrite's
    static `partitions`: BigQuery replaces exactly these month partitions (a MERGE that
    deletes them and inserts the model's rows, with no temporary table nor script).
    Without the vars, none: dbt then replaces the partitions the model's rows fall in. -#}
{% macro month_partitions() -%}
    {%- if not (var('start_month') and var('end_month')) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set start = modules.datetime.datetime.strptime(var('start_month'), '%Y-%m-%d') -%}
    {%- set end = modules.datetime.datetime.strptime(var('end_month'), '%Y-%m-%d') -%}
    {%- set first = start.year * 12 + start.month - 1 -%}
    {%- set months = [] -%}
    {%- for index in range(first, end.year * 12 + end.month - 1) -%}
        {%- do months.append("timestamp('%04d-%02d-01')" % (index // 12, index % 12 + 1)) -%}
    {%- endfor -%}
    {{ return(months) }}
{%- endmacro %}
