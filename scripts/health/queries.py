"""The SQL the health command runs on each server. Every statement is read-only and cheap (catalog and statistics
views); its columns are named as the fields of the samples (samples.py) they fill."""

SERVER_SQL = "select pg_is_in_recovery() as in_recovery, current_database() as database"


# Per streaming replica as the primary sees it: bytes not yet replayed, and the replay delay the standby reports.
REPLICAS_SQL = """
select coalesce(application_name, '') as name,
       coalesce(host(client_addr), 'local') as client,
       coalesce(state, '') as state,
       coalesce(sync_state, '') as sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint as lag_bytes,
       extract(epoch from replay_lag)::float8 as lag_seconds
from pg_stat_replication
order by name, client
"""


# Every slot and the WAL it holds back from recycling (an abandoned slot fills the disk).
SLOTS_SQL = """
select slot_name as name,
       slot_type,
       active,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint as retained_bytes,
       coalesce(wal_status, '') as wal_status
from pg_replication_slots
order by slot_name
"""


# On a standby: WAL received but not replayed, and how old the last replayed transaction is (0 when caught up,
# so an idle primary does not look like lag).
READER_SQL = """
select pg_is_in_recovery() as in_recovery,
       coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint as lag_bytes,
       case when pg_last_wal_receive_lsn() is null or pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
            else coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0)
       end::float8 as lag_seconds
"""


DATABASE_SIZE_SQL = "select pg_database_size(current_database())::bigint as size_bytes"


# Row counts are the statistics collector's estimates (n_live_tup): exact counts would scan every table.
TABLES_SQL = """
select schemaname || '.' || relname as name,
       n_live_tup::bigint as live_rows,
       coalesce(seq_scan, 0)::bigint as seq_scan,
       coalesce(seq_tup_read, 0)::bigint as seq_tup_read,
       coalesce(idx_scan, 0)::bigint as idx_scan
from pg_stat_user_tables
order by name
"""


UNUSED_INDEXES_SQL = """
select s.schemaname || '.' || s.relname as table_name,
       s.indexrelname as name,
       pg_relation_size(s.indexrelid)::bigint as size_bytes,
       s.idx_scan as scans
from pg_stat_user_indexes s
join pg_index i on i.indexrelid = s.indexrelid
where s.idx_scan = 0 and not i.indisunique and not i.indisprimary
order by size_bytes desc
"""


BUFFER_CACHE_SQL = """
select coalesce(blks_hit, 0)::bigint as blks_hit, coalesce(blks_read, 0)::bigint as blks_read
from pg_stat_database where datname = current_database()
"""


# Client sessions other than this one: how long the transaction, the statement and the current state have lasted.
ACTIVITY_SQL = """
select pid,
       coalesce(usename, '') as user_name,
       coalesce(application_name, '') as application,
       coalesce(state, '') as state,
       coalesce(extract(epoch from now() - xact_start), 0)::float8 as xact_seconds,
       coalesce(extract(epoch from now() - query_start), 0)::float8 as query_seconds,
       coalesce(extract(epoch from now() - state_change), 0)::float8 as state_seconds,
       coalesce(query, '') as query
from pg_stat_activity
where backend_type = 'client backend' and pid <> pg_backend_pid()
order by pid
"""


# Sessions waiting for a lock, since when (pg_locks.waitstart, PostgreSQL 14+) and who blocks them.
LOCK_WAITS_SQL = """
select a.pid,
       coalesce(extract(epoch from now() - min(l.waitstart)), 0)::float8 as wait_seconds,
       pg_blocking_pids(a.pid) as blocking_pids,
       coalesce(a.query, '') as query
from pg_locks l
join pg_stat_activity a on a.pid = l.pid
where not l.granted
group by a.pid, a.query
order by wait_seconds desc
"""


XID_AGE_SQL = """
select datname as database, age(datfrozenxid)::bigint as xid_age
from pg_database where datallowconn
order by xid_age desc limit 1
"""


STATEMENTS_INSTALLED_SQL = (
    "select exists (select 1 from pg_extension where extname = 'pg_stat_statements') as installed"
)


TOP_STATEMENTS_SQL = """
select queryid::text as query_id,
       calls::bigint as calls,
       total_exec_time::float8 as total_ms,
       mean_exec_time::float8 as mean_ms,
       rows::bigint as rows,
       query
from pg_stat_statements
where dbid = (select oid from pg_database where datname = current_database())
order by total_exec_time desc
limit %(limit)s
"""
