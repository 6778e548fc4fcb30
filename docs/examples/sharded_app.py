"""A small application on the cryb-db router (docs/sharding.md): community posts sharded by community id.

    pip install './cryb_db_client[aws]'
    pulumi stack output --json > outputs.json
    python docs/examples/sharded_app.py outputs.json --sslrootcert global-bundle.pem

It creates its sharded table on every shard (an application's migrations would), writes posts for 20 communities,
each community's posts in one transaction on its shard, reads one community's posts from its shard, and counts
posts per community across every shard with a deadline. Credentials come from each shard's Secrets Manager secret;
TLS is verify-full. tests/real/test_router_regions.py runs it against real shards.
"""

from __future__ import annotations

import argparse
import itertools

from cryb_db_client import Router, SecretsManager, Transaction

SCHEMA = """
create table if not exists posts (
    bucket integer not null,          -- the router's bucket of community_id (the schema convention)
    community_id bigint not null,
    id bigint not null,               -- application-generated, unique across shards
    body text not null,
    created_at timestamptz not null default now(),
    primary key (bucket, community_id, id)
)
"""
COMMUNITIES = range(1, 21)
POSTS_PER_COMMUNITY = 5


def write_posts(txn: Transaction, community_id: int, first_id: int) -> None:
    """One community's posts: one transaction, on the community's shard."""
    for n in range(POSTS_PER_COMMUNITY):
        txn.execute(
            "insert into posts (bucket, community_id, id, body) values (%s, %s, %s, %s) on conflict do nothing",
            (txn.bucket, community_id, first_id + n, f"post {n} of community {community_id}"),
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Community posts on cryb-db shards through the router.")
    parser.add_argument("outputs", help="pulumi stack output --json of a cryb-db stack")
    parser.add_argument("--sslrootcert", help="CA bundle of the shards (RDS: global-bundle.pem)")
    args = parser.parse_args(argv)

    with Router.from_files(args.outputs, credentials=SecretsManager(), sslrootcert=args.sslrootcert) as router:
        for shard in router.shards():
            with router.connection(shard) as conn, conn.transaction():
                conn.execute(SCHEMA)
        ids = itertools.count(1_000_000, POSTS_PER_COMMUNITY)
        for community_id in COMMUNITIES:
            first_id = next(ids)
            router.run(community_id, lambda txn, c=community_id, f=first_id: write_posts(txn, c, f))

        with router.transaction(7, role="reader") as txn:
            rows = txn.execute(
                "select body from posts where bucket = %s and community_id = %s order by id", (txn.bucket, 7)
            ).fetchall()
        print(f"community 7 lives on shard {txn.route.shard.id} (bucket {txn.bucket}): {len(rows)} posts")

        counts = router.fan_out(
            "select community_id, count(*) from posts where bucket = any(%(buckets)s) group by 1", deadline=2.0
        )
        for community_id, posts in sorted(counts):
            print(f"community {community_id}: {posts} posts")


if __name__ == "__main__":
    main()
