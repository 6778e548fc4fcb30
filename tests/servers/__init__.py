"""Real servers for tests (PostgreSQL, PgBouncer, Redis, moto) on loopback; fixtures in fixtures.py."""
