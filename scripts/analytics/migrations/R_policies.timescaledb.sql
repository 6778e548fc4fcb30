-- Repeatable (TimescaleDB): retention and compression policies, run by TimescaleDB's own background jobs.
-- Re-applied whenever this file or the parameters (cryb_analytics.*, set by the runner) change.
SELECT remove_retention_policy('analytics.user_events', if_exists => TRUE);
SELECT add_retention_policy('analytics.user_events',
    make_interval(days => current_setting('cryb_analytics.retention_days')::integer));
SELECT remove_retention_policy('analytics.performance_metrics', if_exists => TRUE);
SELECT add_retention_policy('analytics.performance_metrics',
    make_interval(days => current_setting('cryb_analytics.retention_days')::integer));
SELECT remove_retention_policy('analytics.content_engagement', if_exists => TRUE);
SELECT add_retention_policy('analytics.content_engagement',
    make_interval(days => current_setting('cryb_analytics.retention_days')::integer));

SELECT remove_compression_policy('analytics.user_events', if_exists => TRUE);
SELECT add_compression_policy('analytics.user_events',
    make_interval(days => current_setting('cryb_analytics.compress_after_days')::integer));
SELECT remove_compression_policy('analytics.performance_metrics', if_exists => TRUE);
SELECT add_compression_policy('analytics.performance_metrics',
    make_interval(days => current_setting('cryb_analytics.compress_after_days')::integer));
SELECT remove_compression_policy('analytics.content_engagement', if_exists => TRUE);
SELECT add_compression_policy('analytics.content_engagement',
    make_interval(days => current_setting('cryb_analytics.compress_after_days')::integer));
