-- 0001 (native): declarative range partitioning by day (UTC) maintained by analytics.run_maintenance(), for
-- servers without TimescaleDB and pg_partman. Children are named <table>_pYYYYMMDD; a <table>_default partition
-- catches rows outside the premade range. Schedule `SELECT analytics.run_maintenance()` with pg_cron (done by the
-- migrations where pg_cron runs in this database) or externally, at least daily.

CREATE TABLE analytics.partition_config (
    parent_table   text    PRIMARY KEY,
    premake_days   integer NOT NULL CHECK (premake_days BETWEEN 1 AND 90),
    retention_days integer NOT NULL CHECK (retention_days BETWEEN 1 AND 3650)
);
COMMENT ON TABLE analytics.partition_config IS
    'Daily partitions kept ahead (premake_days) and behind (retention_days) per parent; read by run_maintenance()';

CREATE FUNCTION analytics.create_day_partition(p_parent text, p_day date) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    parent_schema text := split_part(p_parent, '.', 1);
    parent_name   text := split_part(p_parent, '.', 2);
    child         text := format('%s_p%s', split_part(p_parent, '.', 2), to_char(p_day, 'YYYYMMDD'));
BEGIN
    IF to_regclass(format('%I.%I', parent_schema, child)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
        parent_schema, child, parent_schema, parent_name,
        p_day::timestamp AT TIME ZONE 'UTC', (p_day + 1)::timestamp AT TIME ZONE 'UTC'
    );
    RETURN true;
END
$fn$;

CREATE FUNCTION analytics.run_maintenance()
RETURNS TABLE (parent text, partitions_created integer, partitions_dropped integer)
LANGUAGE plpgsql AS $fn$
DECLARE
    cfg   record;
    old   record;
    today date := (now() AT TIME ZONE 'UTC')::date;
    day   date;
BEGIN
    -- One maintainer at a time (pg_cron and a manual call must not race on CREATE/DROP).
    PERFORM pg_advisory_xact_lock(hashtext('cryb_analytics.run_maintenance'));
    FOR cfg IN SELECT * FROM analytics.partition_config ORDER BY parent_table LOOP
        parent := cfg.parent_table;
        partitions_created := 0;
        partitions_dropped := 0;
        FOR day IN SELECT d::date FROM generate_series(today - 1, today + cfg.premake_days, interval '1 day') AS d LOOP
            IF analytics.create_day_partition(cfg.parent_table, day) THEN
                partitions_created := partitions_created + 1;
            END IF;
        END LOOP;
        FOR old IN
            SELECT c.oid::regclass AS child
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = cfg.parent_table::regclass
               AND c.relname ~ '_p[0-9]{8}$'
               AND to_date(substring(c.relname FROM '_p([0-9]{8})$'), 'YYYYMMDD') < today - cfg.retention_days
        LOOP
            EXECUTE format('DROP TABLE %s', old.child);
            partitions_dropped := partitions_dropped + 1;
        END LOOP;
        RETURN NEXT;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION analytics.run_maintenance() IS
    'Create the daily partitions up to premake_days ahead, drop those older than retention_days (UTC days)';
