{#-
  lakemig.sync(dsn, table, target=none, primary_key=none, cursor=none, hard_deletes=none,
               enforce_key=none, parquet_dir=none, batch_size=none, blind_window_seconds=none)

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
              parquet_dir=none, batch_size=none, blind_window_seconds=none) -%}
  {%- if execute -%}
    {%- set named = lakemig.named_args({
        "target": target, "primary_key": primary_key, "cursor": cursor, "hard_deletes": hard_deletes,
        "enforce_key": enforce_key, "parquet_dir": parquet_dir, "batch_size": batch_size,
        "blind_window_seconds": blind_window_seconds}) -%}
    {%- set sql = "SELECT * FROM pg_sync(" ~ lakemig.literal(dsn) ~ ", " ~ lakemig.literal(table)
                  ~ (", " ~ named if named else "") ~ ")" -%}
    {%- set result = run_query(sql) -%}
    {%- for row in result.rows -%}
      {{- log("lakemig.sync " ~ row["source"] ~ " -> " ~ row["target"] ~ ": " ~ row["mode"] ~ ", "
              ~ row["rows_upserted"] ~ " rows upserted, " ~ row["rows_deleted"] ~ " deleted"
              ~ (", columns added " ~ row["columns_added"] if row["columns_added"] not in (none, "", "[]") else "")
              ~ ", watermark " ~ row["watermark_after"] ~ " (" ~ row["duration"] ~ ")", info=true) -}}
    {%- endfor -%}
  {%- endif -%}
{%- endmacro %}
