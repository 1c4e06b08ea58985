-- DuckDB macros for lakemig users in the shell (or Python): load lakemig, then
--   .read sql/lakemig_macros.sql          (shell)
--   con.execute(open('sql/lakemig_macros.sql').read())   (Python)
-- They are TEMPORARY macros (this connection only) and use nothing but lakemig's functions.

-- pg_sync_lag(max_age := INTERVAL 1 HOUR): one row per pg_sync checkpoint with how old it is.
--   since_last_run  time since the last pg_sync of that target (truncated to the second)
--   data_lag        how far behind PostgreSQL the target may be: for timestamp/date cursors the time
--                   since the watermark; for CDC targets (method := 'cdc') the time since their last
--                   call began (it applied every transaction committed before it); NULL for integer
--                   cursors. pg_sync_state(dsn := ...) shows the WAL a CDC target's slot keeps
--   stale           since_last_run > max_age
-- e.g. SELECT target, since_last_run, stale FROM pg_sync_lag(max_age := INTERVAL 15 MINUTE) WHERE stale;
CREATE OR REPLACE TEMP MACRO pg_sync_lag(max_age := INTERVAL 1 HOUR) AS TABLE
SELECT catalog,
       target,
       source,
       server,
       runs,
       last_mode,
       last_rows_upserted,
       last_rows_deleted,
       last_run,
       date_trunc('second', now() - last_run) AS since_last_run,
       date_trunc('second', now() - CASE watermark_type
           WHEN 'TIMESTAMP WITH TIME ZONE' THEN TRY_CAST(watermark AS TIMESTAMPTZ)
           WHEN 'TIMESTAMP' THEN timezone('UTC', TRY_CAST(watermark AS TIMESTAMP))
           WHEN 'DATE' THEN timezone('UTC', CAST(TRY_CAST(watermark AS DATE) AS TIMESTAMP))
           WHEN 'pg_lsn' THEN last_run
       END) AS data_lag,
       now() - last_run > max_age AS stale
FROM pg_sync_state()
ORDER BY catalog, target;

-- pg_changes(dsn, tbl, since): the rows of a PostgreSQL table changed after `since` (by updated_at),
-- newest first. since: a TIMESTAMPTZ or text; e.g.
--   SELECT * FROM pg_changes('host=db dbname=shop', 'shop.orders', '2024-05-01 00:00+00');
CREATE OR REPLACE TEMP MACRO pg_changes(dsn, tbl, since) AS TABLE
SELECT * FROM pg_incremental_scan(dsn, tbl, cursor := 'updated_at', since := since)
ORDER BY updated_at DESC;
