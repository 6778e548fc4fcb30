-- Repeatable (pg_partman): premake and retention in partman.part_config, partitions brought up to date now, and
-- the pg_cron maintenance job when pg_cron runs in this database (cryb_analytics.use_cron, set by the runner).
-- Re-applied whenever this file or the parameters change.
DO $policies$
DECLARE
    updated integer;
BEGIN
    UPDATE partman.part_config
       SET premake = current_setting('cryb_analytics.premake_days')::integer,
           retention = current_setting('cryb_analytics.retention_days') || ' days',
           retention_keep_table = false,
           infinite_time_partitions = true
     WHERE parent_table IN ('analytics.user_events', 'analytics.performance_metrics', 'analytics.content_engagement');
    GET DIAGNOSTICS updated = ROW_COUNT;
    IF updated <> 3 THEN
        RAISE EXCEPTION 'partman.part_config has % of the 3 analytics parents (expected all three)', updated;
    END IF;
END
$policies$;

SELECT partman.run_maintenance(p_parent_table => 'analytics.user_events');
SELECT partman.run_maintenance(p_parent_table => 'analytics.performance_metrics');
SELECT partman.run_maintenance(p_parent_table => 'analytics.content_engagement');

DO $cron$
BEGIN
    IF current_setting('cryb_analytics.use_cron') = 'on' THEN
        CREATE EXTENSION IF NOT EXISTS pg_cron;
        PERFORM cron.schedule('cryb-analytics-maintenance', current_setting('cryb_analytics.cron_schedule'),
                              'CALL partman.run_maintenance_proc()');
    END IF;
END
$cron$;
