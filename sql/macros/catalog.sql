{#-
  Run-operations for DuckLake catalogs (SQLite -> PostgreSQL). Each runs the lakemig function and
  prints one line per result row (with dry_run: true, each row's DDL / statement below it).
  Arguments left none take the function's defaults (see the README's sqlite_catalog_migrate section).

    dbt run-operation lakemig.sqlite_catalog_migrate \
      --args "{sqlite_path: lake/catalog.sqlite, pg_dsn: 'host=db dbname=lake user=dbt', dry_run: true}"
    dbt run-operation lakemig.ducklake_fix_types --args "{pg_dsn: 'host=db dbname=lake user=dbt'}"

  Keep the password out of the arguments (they are logged): set PGPASSWORD or use ~/.pgpass.
-#}
{% macro sqlite_catalog_migrate(sqlite_path, pg_dsn, schema=none, if_exists=none, data_path=none,
                                dry_run=none, verify=none) -%}
  {%- set named = lakemig.named_args({"schema": schema, "if_exists": if_exists, "data_path": data_path,
                                      "dry_run": dry_run, "verify": verify}) -%}
  {%- do lakemig.run_and_print("sqlite_catalog_migrate",
        lakemig.literal(sqlite_path) ~ ", " ~ lakemig.literal(pg_dsn) ~ (", " ~ named if named else ""),
        show_long=dry_run) -%}
{%- endmacro %}


{% macro ducklake_fix_types(pg_dsn, schema=none, dry_run=none) -%}
  {%- set named = lakemig.named_args({"schema": schema, "dry_run": dry_run}) -%}
  {%- do lakemig.run_and_print("ducklake_fix_types",
        lakemig.literal(pg_dsn) ~ (", " ~ named if named else ""), show_long=dry_run) -%}
{%- endmacro %}


{% macro run_and_print(function, args, show_long=false) -%}
  {%- if execute -%}
    {%- set result = run_query("SELECT * FROM " ~ function ~ "(" ~ args ~ ")") -%}
    {%- do lakemig.log_rows(result, function, long_columns=["ddl", "statement"], show_long=show_long) -%}
    {%- if result.rows | length == 0 -%}
      {{- log(function ~ ": no rows", info=true) -}}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}
