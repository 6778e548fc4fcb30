-- 0002 (native): the three event tables, range-partitioned by day, maintained by analytics.run_maintenance()
-- (0001). Premake and retention: R_policies.native.sql (re-applied when the parameters change).

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
) PARTITION BY RANGE (occurred_at);
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
) PARTITION BY RANGE (recorded_at);
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
) PARTITION BY RANGE (occurred_at);
COMMENT ON TABLE analytics.content_engagement IS 'Engagement with content (views, votes, shares, dwell time)';
CREATE INDEX content_engagement_content_idx ON analytics.content_engagement (content_type, content_id, occurred_at DESC);
CREATE INDEX content_engagement_community_idx ON analytics.content_engagement (community_id, occurred_at DESC)
    WHERE community_id IS NOT NULL;
CREATE INDEX user_events_occurred_at_brin ON analytics.user_events USING brin (occurred_at);
CREATE INDEX performance_metrics_recorded_at_brin ON analytics.performance_metrics USING brin (recorded_at);
CREATE INDEX content_engagement_occurred_at_brin ON analytics.content_engagement USING brin (occurred_at);

CREATE TABLE analytics.user_events_default PARTITION OF analytics.user_events DEFAULT;
CREATE TABLE analytics.performance_metrics_default PARTITION OF analytics.performance_metrics DEFAULT;
CREATE TABLE analytics.content_engagement_default PARTITION OF analytics.content_engagement DEFAULT;
