{#- A DuckDB literal for a value given to a macro: strings in single quotes with every ' doubled
    (so a DSN or a path can never end the literal), none -> NULL, true/false, numbers as they are,
    lists -> [..]. Use it for every value that ends up in SQL text. -#}
{% macro literal(value) -%}
  {%- if value is none -%}
    NULL
  {%- elif value is sameas true -%}
    true
  {%- elif value is sameas false -%}
    false
  {%- elif value is number -%}
    {{ value }}
  {%- elif value is string -%}
    '{{ value | replace("'", "''") }}'
  {%- elif value is mapping -%}
    {{ exceptions.raise_compiler_error("lakemig.literal: a mapping is not a SQL value: " ~ value) }}
  {%- elif value is iterable -%}
    [{% for v in value %}{{ lakemig.literal(v) }}{{ ", " if not loop.last }}{% endfor %}]
  {%- else -%}
    '{{ (value | string) | replace("'", "''") }}'
  {%- endif -%}
{%- endmacro %}


{#- `name := value` for each argument that is not none, joined with ", " (none = the function's default). -#}
{% macro named_args(args) -%}
  {%- set parts = [] -%}
  {%- for name, value in args.items() if value is not none -%}
    {%- do parts.append(name ~ " := " ~ lakemig.literal(value)) -%}
  {%- endfor -%}
  {{- parts | join(", ") -}}
{%- endmacro %}


{#- One line per result row: "prefix: name=value, name=value". Columns in `long_columns` (DDL, statements)
    are left out of the line, and printed below it, indented, when show_long is true. -#}
{% macro log_rows(result, prefix, long_columns=[], show_long=false) -%}
  {%- for row in result.rows -%}
    {%- set cells = [] -%}
    {%- for name in result.column_names if name not in long_columns -%}
      {%- do cells.append(name ~ "=" ~ row[name]) -%}
    {%- endfor -%}
    {{- log(prefix ~ ": " ~ cells | join(", "), info=true) -}}
    {%- if show_long -%}
      {%- for name in result.column_names if name in long_columns and row[name] is not none -%}
        {{- log("    " ~ (row[name] | string | replace("\n", "\n    ")), info=true) -}}
      {%- endfor -%}
    {%- endif -%}
  {%- endfor -%}
{%- endmacro %}
