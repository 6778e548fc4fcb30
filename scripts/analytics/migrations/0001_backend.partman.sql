-- 0001 (pg_partman): the extension in schema `partman` (as the self-hosted bootstrap and the RDS guide install it).
-- When a superuser already created it, these statements change nothing; the migration runner refuses to start
-- when pg_partman lives in another schema or the role lacks USAGE on it.
CREATE SCHEMA IF NOT EXISTS partman;
CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman;
