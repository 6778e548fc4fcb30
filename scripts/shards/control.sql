-- cryb-db shard control, installed on every shard by `python -m scripts shards` (idempotent; docs/sharding.md).
-- Routers read map_state and buckets; the guard trigger on every sharded table reads blocked.
create schema if not exists cryb_shards;

create table if not exists cryb_shards.map_state (
    singleton boolean primary key default true check (singleton),
    epoch bigint not null default 0,
    updated_at timestamptz not null default now()
);
insert into cryb_shards.map_state (singleton, epoch) values (true, 0) on conflict do nothing;

-- The map's changes since the published one: a row per bucket that moved (shard = its owner now) or is fenced.
create table if not exists cryb_shards.buckets (
    bucket integer primary key,
    shard integer not null,
    fenced boolean not null default false,
    move_id text not null,
    epoch bigint not null,
    updated_at timestamptz not null default now()
);

-- What this shard refuses writes for: fenced (cut-over running), moved (gone to another shard), incoming (being
-- copied here; owned elsewhere until the switch).
create table if not exists cryb_shards.blocked (
    bucket integer primary key,
    reason text not null check (reason in ('fenced', 'moved', 'incoming')),
    move_id text not null,
    since timestamptz not null default clock_timestamp()
);

-- Journal of the moves this shard is the target of (one row per move) and every step they logged.
create table if not exists cryb_shards.moves (
    move_id text primary key,
    first_bucket integer not null,
    last_bucket integer not null,
    source integer not null,
    target integer not null,
    step text not null,
    started_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    copy_started_at timestamptz,
    copied_at timestamptz,
    fenced_at timestamptz,
    switched_at timestamptz,
    finished_at timestamptz,
    rows_copied bigint,
    rows_deleted bigint
);
create table if not exists cryb_shards.move_log (
    id bigserial primary key,
    move_id text not null,
    at timestamptz not null default clock_timestamp(),
    step text not null,
    message text not null
);

-- The guard: a write to a blocked bucket fails with CRB01 (fenced: retry) or CRB02 (not here: refresh the map).
-- Writers take the bucket's advisory lock shared; a fence takes it exclusive, so it waits for the writes in flight.
-- Logical replication's apply worker does not fire it (session_replication_role = replica); the mover sets
-- cryb_shards.bypass to delete rows of buckets that moved away.
create or replace function cryb_shards.guard() returns trigger language plpgsql as $$
declare
    checked integer[];
    b integer;
    why text;
begin
    if current_setting('cryb_shards.bypass', true) is distinct from 'on' then
        if tg_op = 'INSERT' then
            checked := array[new.bucket];
        elsif tg_op = 'DELETE' then
            checked := array[old.bucket];
        else
            checked := array[new.bucket, old.bucket];
        end if;
        foreach b in array checked loop
            perform pg_advisory_xact_lock_shared(1129470274, b);
            select reason into why from cryb_shards.blocked where bucket = b;
            if why = 'fenced' then
                raise exception using errcode = 'CRB01',
                    message = format('bucket %s is fenced for a shard move', b), hint = 'retry in a moment';
            elsif why is not null then
                raise exception using errcode = 'CRB02',
                    message = format('bucket %s is not on this shard (%s)', b, why), hint = 'refresh the shard map';
            end if;
        end loop;
    end if;
    if tg_op = 'DELETE' then
        return old;
    end if;
    return new;
end
$$;
