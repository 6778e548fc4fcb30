-- 0002 (TimescaleDB): the three event tables as hypertables with one-day chunks and native compression.
-- Retention and compression policies: R_policies.timescaledb.sql (re-applied when the parameters change).
-- Tables and indexes must stay identical across the three strategies (tests/test_analytics_migrations.py).

-- User behaviour: one row per client or server event (page view, vote, join, search, ...).
CREATE TABLE analytics.user_events (
    event_id     uuid        NOT NULL DEFAULT gen_random_uuid(),
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    user_id      bigint,
    session_id   uuid,
    event_type   text        NOT NULL CHECK (event_type ~ '^[a-z][a-z0-9_.]{0,63}$'),
    community_id bigint,
    platform     text        CHECK (platform IN ('web', 'ios', 'android', 'desktop', 'api')),
    properties   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (event_id, occurred_at)
);
COMMENT ON TABLE analytics.user_events IS 'User behaviour events; user_id is null for signed-out visitors';
CREATE INDEX user_events_user_idx ON analytics.user_events (user_id, occurred_at DESC) WHERE user_id IS NOT NULL;
CREATE INDEX user_events_type_idx ON analytics.user_events (event_type, occurred_at DESC);
CREATE INDEX user_events_community_idx ON analytics.user_events (community_id, occurred_at DESC)
    WHERE community_id IS NOT NULL;

-- Performance metrics: one sample of one metric of one service (latency, error rate, queue depth, ...).
CREATE TABLE analytics.performance_metrics (
    recorded_at timestamptz      NOT NULL,
    service     text             NOT NULL,
    metric      text             NOT NULL,
    value       double precision NOT NULL,
    unit        text,
    host        text,
    region      text,
    labels      jsonb            NOT NULL DEFAULT '{}'::jsonb
);
COMMENT ON TABLE analytics.performance_metrics IS 'Performance samples, one row per (service, metric, time)';
CREATE INDEX performance_metrics_series_idx ON analytics.performance_metrics (service, metric, recorded_at DESC);

-- Content engagement: what users do with posts, comments, messages and media.
CREATE TABLE analytics.content_engagement (
    occurred_at  timestamptz NOT NULL,
    content_type text        NOT NULL CHECK (content_type IN ('post', 'comment', 'message', 'media', 'community')),
    content_id   bigint      NOT NULL,
    community_id bigint,
    user_id      bigint,
    action       text        NOT NULL
        CHECK (action IN ('view', 'upvote', 'downvote', 'comment', 'share', 'save', 'report', 'click')),
    dwell_ms     integer     CHECK (dwell_ms >= 0),
    properties   jsonb       NOT NULL DEFAULT '{}'::jsonb
);
COMMENT ON TABLE analytics.content_engagement IS 'Engagement with content (views, votes, shares, dwell time)';
CREATE INDEX content_engagement_content_idx ON analytics.content_engagement (content_type, content_id, occurred_at DESC);
CREATE INDEX content_engagement_community_idx ON analytics.content_engagement (community_id, occurred_at DESC)
    WHERE community_id IS NOT NULL;

SELECT create_hypertable('analytics.user_events', 'occurred_at',
    chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
SELECT create_hypertable('analytics.performance_metrics', 'recorded_at',
    chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);
SELECT create_hypertable('analytics.content_engagement', 'occurred_at',
    chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE);

-- Compression: segment by what queries filter on, order by time (the primary key's columns must be covered).
ALTER TABLE analytics.user_events SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'event_type', timescaledb.compress_orderby = 'occurred_at DESC, event_id');
ALTER TABLE analytics.performance_metrics SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'service, metric', timescaledb.compress_orderby = 'recorded_at DESC');
ALTER TABLE analytics.content_engagement SET (timescaledb.compress,
    timescaledb.compress_segmentby = 'content_type, action', timescaledb.compress_orderby = 'occurred_at DESC');
