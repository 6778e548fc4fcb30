-- Repeatable (native): premake and retention for analytics.run_maintenance(), partitions brought up to date now,
-- and the pg_cron maintenance job when pg_cron runs in this database (cryb_analytics.use_cron, set by the runner).
-- Re-applied whenever this file or the parameters change.
INSERT INTO analytics.partition_config (parent_table, premake_days, retention_days)
SELECT parent, current_setting('cryb_analytics.premake_days')::integer,
       current_setting('cryb_analytics.retention_days')::integer
  FROM unnest(ARRAY['analytics.user_events', 'analytics.performance_metrics', 'analytics.content_engagement']) AS parent
    ON CONFLICT (parent_table) DO UPDATE
   SET premake_days = excluded.premake_days, retention_days = excluded.retention_days;

SELECT * FROM analytics.run_maintenance();

DO $cron$
BEGIN
    IF current_setting('cryb_analytics.use_cron') = 'on' THEN
        CREATE EXTENSION IF NOT EXISTS pg_cron;
        PERFORM cron.schedule('cryb-analytics-maintenance', current_setting('cryb_analytics.cron_schedule'),
                              'SELECT analytics.run_maintenance()');
    END IF;
END
$cron$;
