-- 0001 (TimescaleDB): the extension. The self-hosted analytics nodes preload it (shared_preload_libraries);
-- `python -m scripts analytics migrate` only picks this strategy when it is preloaded or already installed.
CREATE EXTENSION IF NOT EXISTS timescaledb;
