"""Stack outputs as the DR drill reads them, shared by tests/scripts/dr and tests/real/test_dr_drill.py."""

# One shard as components/postgres/component.py exports it (Postgres.shard_outputs): the RDS identifier is `name`.
EXPORTED = {
    "id": 0,
    "name": "cryb-prod-pg-00",
    "topology": "instance",
    "writerEndpoint": "cryb-prod-pg-00.c0ffee0example.us-east-1.rds.amazonaws.com",
    "port": 5433,
    "databaseName": "cryb",
    "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-cryb-prod-pg-00-AbCdEf",
}
NETWORK = {"dbSubnetGroupName": "cryb-prod-db", "securityGroupIds": {"app": "sg-app", "postgres": "sg-postgres"}}
