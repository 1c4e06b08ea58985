{#-
  lakemig.sync(dsn, table, target=none, primary_key=none, cursor=none, hard_deletes=none,
               enforce_key=none, parquet_dir=none, batch_size=none, blind_window_seconds=none,
               method=none, publication=none)

  Runs pg_sync (one sync of a PostgreSQL table into a DuckDB/DuckLake table, with its own checkpoint)
  and logs its result row. Arguments left none take pg_sync's defaults. Use it as a hook:

    on-run-start:
      - "{{ lakemig.sync(env_var('SHOP_DSN'), 'shop.customers', target='lake.raw.customers') }}"

  or from the command line:

    dbt run-operation lakemig.sync --args "{dsn: 'host=db dbname=shop user=dbt', table: shop.customers, target: lake.raw.customers}"

  pg_sync commits on lakemig's own connection, in its own transaction (a failing model does not roll
  it back): prefer on-run-start, which dbt runs and commits before any model starts.
  The macro runs the sync itself and renders nothing, so the hook has no SQL left to execute.
-#}
{% macro sync(dsn, table, target=none, primary_key=none, cursor=none, hard_deletes=none, enforce_key=none,
              parquet_dir=none, batch_size=none, blind_window_seconds=none, method=none, publication=none) -%}
  {%- if execute -%}
    {%- set named = lakemig.named_args({
        "target": target, "primary_key": primary_key, "cursor": cursor, "hard_deletes": hard_deletes,
        "enforce_key": enforce_key, "parquet_dir": parquet_dir, "batch_size": batch_size,
        "blind_window_seconds": blind_window_seconds, "method": method, "publication": publication}) -%}
    {%- set sql = "SELECT * FROM pg_sync(" ~ lakemig.literal(dsn) ~ ", " ~ lakemig.literal(table)
                  ~ (", " ~ named if named else "") ~ ")" -%}
    {%- do lakemig.log_sync_rows("lakemig.sync", run_query(sql)) -%}
  {%- endif -%}
{%- endmacro %}


{#-
  lakemig.sync_tables(dsn, tables, target=none, exclude=none, cursor=none, on_error=none,
                      max_connections=none, hard_deletes=none, enforce_key=none, parquet_dir=none,
                      batch_size=none, blind_window_seconds=none, method=none, publication=none)

  Runs pg_sync_tables: many PostgreSQL tables ('shop.*', 'billing.invoices') read in one snapshot and
  written in one DuckDB transaction with every checkpoint; logs a line per table. As a hook:

    on-run-start:
      - "{{ lakemig.sync_tables(env_var('SHOP_DSN'), ['shop.*'], target='lake.raw', exclude=['shop.tmp_*']) }}"

  or: dbt run-operation lakemig.sync_tables --args "{dsn: '...', tables: ['shop.*'], target: lake.raw}"
-#}
{% macro sync_tables(dsn, tables, target=none, exclude=none, cursor=none, on_error=none, max_connections=none,
                     hard_deletes=none, enforce_key=none, parquet_dir=none, batch_size=none,
                     blind_window_seconds=none, method=none, publication=none) -%}
  {%- if execute -%}
    {%- set named = lakemig.named_args({
        "tables": ([tables] if tables is string else tables), "target": target, "exclude": exclude,
        "cursor": cursor, "on_error": on_error, "max_connections": max_connections,
        "hard_deletes": hard_deletes, "enforce_key": enforce_key, "parquet_dir": parquet_dir,
        "batch_size": batch_size, "blind_window_seconds": blind_window_seconds,
        "method": method, "publication": publication}) -%}
    {%- set sql = "SELECT * FROM pg_sync_tables(" ~ lakemig.literal(dsn) ~ ", " ~ named ~ ")" -%}
    {%- do lakemig.log_sync_rows("lakemig.sync_tables", run_query(sql)) -%}
  {%- endif -%}
{%- endmacro %}


{#- A log line per sync result row (pg_sync, pg_sync_tables). -#}
{% macro log_sync_rows(prefix, result) -%}
    {%- for row in result.rows -%}
      {{- log(prefix ~ " " ~ row["source"] ~ " -> " ~ row["target"] ~ ": " ~ row["mode"] ~ ", "
              ~ row["rows_upserted"] ~ " rows upserted, " ~ row["rows_deleted"] ~ " deleted"
              ~ (", columns added " ~ row["columns_added"] if row["columns_added"] not in (none, "", "[]") else "")
              ~ ", watermark " ~ row["watermark_after"] ~ " (" ~ row["duration"] ~ ")"
              ~ (", error: " ~ row["error"] if "error" in result.column_names and row["error"] else ""), info=true) -}}
    {%- endfor -%}
{%- endmacro %}
