{#-
  lakemig.incremental_source(dsn, table, cursor='updated_at', lookback=none, columns=none, relation=none)

  The FROM clause of an incremental model that reads a PostgreSQL table through
  pg_incremental_scan. On a full build (first run, --full-refresh) it reads every row; on an
  incremental run it reads only the rows whose `cursor` is greater than the model's own
  max(cursor), taken from {{ this }} with run_query. Pair it with unique_key so re-read rows
  replace their old versions:

    {{ config(materialized='incremental', unique_key='id') }}
    select * from {{ lakemig.incremental_source(env_var('SHOP_DSN'), 'shop.orders', lookback='10 minutes') }}

  lookback: re-read an overlap before max(cursor): an interval string ('10 minutes') for
  timestamp/date cursors, a number for integer cursors. Why: `updated_at = now()` is the start of the
  writing transaction, so a transaction that is still open while dbt reads commits rows whose
  cursor is OLDER than the max(cursor) this run saw; without an overlap the next run starts after
  them and they are never read. Make lookback longer than your longest write transaction. The
  overlap costs only re-reading a few rows: upserts by unique_key make reading a row twice harmless.
  (pg_sync computes this bound itself from pg_stat_activity; a dbt model has no checkpoint to keep it in.)

  columns: a list of column names to read (default: all, in table order).
  relation: where to read max(cursor) from (default: this model).
-#}
{% macro incremental_source(dsn, table, cursor='updated_at', lookback=none, columns=none, relation=none) -%}
  {%- set args = [lakemig.literal(dsn), lakemig.literal(table), "cursor := " ~ lakemig.literal(cursor)] -%}
  {%- if columns is not none -%}
    {%- do args.append("columns := " ~ lakemig.literal(columns)) -%}
  {%- endif -%}
  {%- set since = lakemig.incremental_since(cursor, lookback, relation) | trim -%}
  {%- if since | length > 0 -%}
    {%- do args.append("since := " ~ since) -%}
  {%- endif -%}
  pg_incremental_scan({{ args | join(", ") }})
{%- endmacro %}


{#- The `since` literal of an incremental run (max(cursor) of the model, minus lookback), or nothing
    on a full build or when the model is empty. The value goes as text: PostgreSQL casts it to the
    cursor's type, and DuckDB prints a TIMESTAMPTZ with its offset, so no time zone is lost. -#}
{% macro incremental_since(cursor, lookback=none, relation=none) -%}
  {%- if execute and (relation is not none or is_incremental()) -%}
    {%- set relation = relation if relation is not none else this -%}
    {%- set expr = "max(" ~ adapter.quote(cursor) ~ ")" -%}
    {%- if lookback is none -%}
    {%- elif lookback is number -%}
      {%- set expr = expr ~ " - " ~ lookback -%}
    {%- else -%}
      {%- set expr = expr ~ " - INTERVAL " ~ lakemig.literal(lookback) -%}
    {%- endif -%}
    {%- set result = run_query("SELECT CAST(" ~ expr ~ " AS VARCHAR) FROM " ~ relation) -%}
    {%- set value = result.columns[0].values()[0] -%}
    {%- if value is not none -%}
      {{- lakemig.literal(value) -}}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}
