# ruff: noqa: E501 - one message a line, as the pack prints it
"""The exact violation messages of every violating input in the service modules' CASES, in order per
`rule@Type` (the Nth violating input of that rule on that type is `rule@Type#N`). Written out and read once by a
person: a rule that reports the wrong thing, or loses the part that says what to change, fails
tests/policies/rules/test_base.py. A new violating case needs its line here."""

EXPECTED: dict[str, list[str]] = {
    "rds-not-publicly-accessible@Instance#0": [
        "publiclyAccessible is true: set publicly_accessible=False; clients reach PostgreSQL inside the VPC."
    ],
    "rds-not-publicly-accessible@ClusterInstance#0": [
        "publiclyAccessible is true: set publicly_accessible=False; clients reach PostgreSQL inside the VPC."
    ],
    "rds-storage-encrypted@Instance#0": [
        "storageEncrypted is not true: set storage_encrypted=True; snapshots inherit it (RDS.4)."
    ],
    "rds-storage-encrypted@Instance#1": [
        "storageEncrypted is not true: set storage_encrypted=True; snapshots inherit it (RDS.4)."
    ],
    "rds-storage-encrypted@Instance#2": [
        "kmsKeyId is not set, so the AWS-managed key is used: set kms_key_id to the stack's `data` key ARN."
    ],
    "rds-storage-encrypted@Instance#3": [
        "storageEncrypted is not true: set storage_encrypted=True; snapshots inherit it (RDS.4)."
    ],
    "rds-storage-encrypted@Cluster#0": [
        "storageEncrypted is not true: set storage_encrypted=True; snapshots inherit it (RDS.4)."
    ],
    "rds-snapshot-not-public@Snapshot#0": [
        "sharedAccounts contains 'all' (public snapshot): remove it and list the account IDs that need it."
    ],
    "rds-snapshot-copy-encrypted@SnapshotCopy#0": [
        "kmsKeyId is not set: set kms_key_id so the copy is encrypted with a customer-managed key."
    ],
    "rds-multi-az@Instance#0": ["multiAz is not true: set multi_az=True so an AZ outage fails over to the standby."],
    "rds-multi-az@Instance#1": ["multiAz is not true: set multi_az=True so an AZ outage fails over to the standby."],
    "rds-multi-az@Cluster#0": ["availabilityZones lists one AZ: list at least two (three in prod) or leave it unset."],
    "rds-enhanced-monitoring@Instance#0": [
        "monitoringInterval is unset (0): set monitoring_interval to 1-60 seconds and monitoring_role_arn."
    ],
    "rds-enhanced-monitoring@Instance#1": [
        "monitoringInterval is 0.0: set monitoring_interval to 1-60 seconds and monitoring_role_arn."
    ],
    "rds-enhanced-monitoring@Instance#2": [
        "monitoringRoleArn is not set: give Enhanced Monitoring a role with AmazonRDSEnhancedMonitoringRole."
    ],
    "rds-enhanced-monitoring@Instance#3": [
        "monitoringInterval is 60.0: set monitoring_interval to 1-15 seconds and monitoring_role_arn."
    ],
    "rds-deletion-protection@Instance#0": ["deletionProtection is not true: set deletion_protection=True."],
    "rds-deletion-protection@Cluster#0": ["deletionProtection is not true: set deletion_protection=True."],
    "rds-logs-to-cloudwatch@Instance#0": [
        "enabledCloudwatchLogsExports lacks ['postgresql']: add them to enabled_cloudwatch_logs_exports."
    ],
    "rds-logs-to-cloudwatch@Instance#1": [
        "enabledCloudwatchLogsExports lacks ['postgresql']: add them to enabled_cloudwatch_logs_exports."
    ],
    "rds-iam-authentication@Instance#0": [
        "iamDatabaseAuthenticationEnabled is not true: set iam_database_authentication_enabled=True."
    ],
    "rds-backup-retention@Instance#0": [
        "backupRetentionPeriod is 1.0: set backup_retention_period to at least 7 days."
    ],
    "rds-backup-retention@Instance#1": [
        "backupRetentionPeriod is unset (1): set backup_retention_period to at least 7 days."
    ],
    "rds-backup-retention@Instance#2": [
        "backupRetentionPeriod is 0.0: set backup_retention_period to at least 1 days."
    ],
    "rds-auto-minor-version-upgrade@Instance#0": [
        "autoMinorVersionUpgrade is false: set auto_minor_version_upgrade=True."
    ],
    "rds-copy-tags-to-snapshot@Instance#0": ["copyTagsToSnapshot is not true: set copy_tags_to_snapshot=True."],
    "rds-in-vpc-subnet-group@Instance#0": [
        "dbSubnetGroupName is not set (the default VPC): set db_subnet_group_name to the data subnet group."
    ],
    "rds-in-vpc-subnet-group@Instance#1": [
        "dbSubnetGroupName is not set (the default VPC): set db_subnet_group_name to the data subnet group."
    ],
    "rds-non-default-port@Instance#0": [
        "port is the engine default 5432: set port to another value (cryb-db:postgres.port)."
    ],
    "rds-non-default-port@Instance#1": [
        "port is the engine default 5432: set port to another value (cryb-db:postgres.port)."
    ],
    "rds-custom-admin-username@Instance#0": ["username is 'postgres': choose a non-default admin username."],
    "rds-custom-admin-username@Cluster#0": ["masterUsername is 'admin': choose a non-default admin username."],
    "rds-postgres-force-ssl@ParameterGroup#0": [
        "rds.force_ssl is not 1: add the parameter {name: 'rds.force_ssl', value: '1'}."
    ],
    "rds-postgres-force-ssl@ParameterGroup#1": [
        "rds.force_ssl is not 1: add the parameter {name: 'rds.force_ssl', value: '1'}."
    ],
    "rds-postgres-force-ssl@Instance#0": [
        "parameterGroupName is not set (the default group may allow plaintext): attach a group with rds.force_ssl=1."
    ],
    "rds-postgres-force-ssl@Cluster#0": [
        "dbClusterParameterGroupName is not set (the default group may allow plaintext): attach a group with rds.force_ssl=1."
    ],
    "rds-proxy-requires-tls@Proxy#0": ["requireTls is not true: set require_tls=True."],
    "rds-proxy-requires-tls@Proxy#1": ["requireTls is not true: set require_tls=True."],
    "rds-event-subscription-enabled@EventSubscription#0": ["enabled is false: events are dropped; set enabled=True."],
    "rds-event-subscription-enabled@EventSubscription#1": [
        "snsTopic is not set: set sns_topic to the alerting topic ARN."
    ],
    "elasticache-automatic-backups@ReplicationGroup#0": [
        "snapshotRetentionLimit is unset (0): set snapshot_retention_limit to at least 1."
    ],
    "elasticache-automatic-backups@ReplicationGroup#1": [
        "snapshotRetentionLimit is 0.0: set snapshot_retention_limit to at least 1."
    ],
    "elasticache-automatic-backups@ReplicationGroup#2": [
        "snapshotRetentionLimit is 3.0: set snapshot_retention_limit to at least 7."
    ],
    "elasticache-automatic-backups@Cluster#0": [
        "snapshotRetentionLimit is 0.0: set snapshot_retention_limit to at least 1."
    ],
    "elasticache-auto-minor-version-upgrade@ReplicationGroup#0": [
        "autoMinorVersionUpgrade is false: set auto_minor_version_upgrade=True."
    ],
    "elasticache-automatic-failover@ReplicationGroup#0": [
        "automaticFailoverEnabled is not true: set automatic_failover_enabled=True (needs a replica)."
    ],
    "elasticache-automatic-failover@ReplicationGroup#1": [
        "multiAzEnabled is not true: set multi_az_enabled=True so the replica lives in another AZ."
    ],
    "elasticache-encrypted-at-rest@ReplicationGroup#0": [
        "atRestEncryptionEnabled is not true: set at_rest_encryption_enabled=True."
    ],
    "elasticache-encrypted-at-rest@ReplicationGroup#1": [
        "kmsKeyId is not set, so the AWS-managed key is used: set kms_key_id to the `data` key ARN."
    ],
    "elasticache-encrypted-in-transit@ReplicationGroup#0": [
        "transitEncryptionEnabled is not true: set transit_encryption_enabled=True."
    ],
    "elasticache-encrypted-in-transit@ReplicationGroup#1": [
        "transitEncryptionMode is 'preferred' (plaintext still accepted): set it to 'required'."
    ],
    "elasticache-authentication@ReplicationGroup#0": [
        "neither userGroupIds nor authToken is set, so anyone who reaches the port can run commands: set one."
    ],
    "elasticache-authentication@ReplicationGroup#1": [
        "neither userGroupIds nor authToken is set, so anyone who reaches the port can run commands: set one."
    ],
    "elasticache-authentication@ReplicationGroup#2": [
        "neither userGroupIds nor authToken is set, so anyone who reaches the port can run commands: set one."
    ],
    "elasticache-not-default-subnet-group@ReplicationGroup#0": [
        "subnetGroupName is the default group: set subnet_group_name to the data-tier cache subnet group."
    ],
    "elasticache-not-default-subnet-group@ReplicationGroup#1": [
        "subnetGroupName is the default group: set subnet_group_name to the data-tier cache subnet group."
    ],
    "elasticache-user-requires-authentication@User#0": [
        "noPasswordRequired is true: remove it and set authentication_mode to 'iam' or 'password'."
    ],
    "elasticache-user-requires-authentication@User#1": [
        "authenticationMode.type is 'no-password-required': use 'iam' or 'password'."
    ],
    "s3-public-access-block-all-on@BucketPublicAccessBlock#0": [
        "blockPublicPolicy not true: set all four Block Public Access settings to True."
    ],
    "s3-public-access-block-all-on@BucketPublicAccessBlock#1": [
        "blockPublicAcls, blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets not true: set all four Block Public Access settings to True."
    ],
    "s3-public-access-block-all-on@AccountPublicAccessBlock#0": [
        "blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets not true: set all four Block Public Access settings to True."
    ],
    "s3-bucket-policy-requires-tls@BucketPolicy#0": [
        "the policy has no Deny on aws:SecureTransport=false: add one so plaintext HTTP requests fail."
    ],
    "s3-bucket-policy-requires-tls@BucketPolicy#1": [
        "the policy has no Deny on aws:SecureTransport=false: add one so plaintext HTTP requests fail."
    ],
    "s3-bucket-policy-not-public@BucketPolicy#0": [
        "statement 'PublicRead' allows anyone: name principals or add a condition."
    ],
    "s3-bucket-policy-not-public@BucketPolicy#1": [
        "statement '(no Sid)' lets ['arn:aws:iam::999999999999:root'] run ['s3:PutBucketPolicy']: grant account control through IAM in the owning account only."
    ],
    "s3-bucket-policy-not-public@BucketPolicy#2": [
        "statement '(no Sid)' lets ['arn:aws:iam::888888888888:root'] run ['s3:DeleteBucketPolicy', 's3:PutBucketAcl', 's3:PutBucketPolicy', 's3:PutEncryptionConfiguration', 's3:PutObjectAcl']: grant account control through IAM in the owning account only."
    ],
    "s3-bucket-encrypted-with-kms@BucketServerSideEncryptionConfiguration#0": [
        "sseAlgorithm is 'AES256': use 'aws:kms' with the stack's customer-managed key."
    ],
    "s3-bucket-encrypted-with-kms@BucketServerSideEncryptionConfiguration#1": [
        "kmsMasterKeyId is not set (AWS-managed aws/s3 key): set it to the customer-managed key ARN."
    ],
    "s3-bucket-encrypted-with-kms@BucketServerSideEncryptionConfiguration#2": [
        "no applyServerSideEncryptionByDefault: add a rule with sse_algorithm 'aws:kms'."
    ],
    "s3-bucket-versioning-enabled@BucketVersioning#0": [
        "versioningConfiguration.status is 'Suspended': set it to 'Enabled'."
    ],
    "s3-acls-disabled@BucketOwnershipControls#0": [
        "objectOwnership is 'ObjectWriter': set it to 'BucketOwnerEnforced' (ACLs disabled)."
    ],
    "s3-acls-disabled@Bucket#0": ["the bucket sets acl/grants: remove them and grant access in the bucket policy."],
    "s3-lifecycle-rule-enabled@BucketLifecycleConfiguration#0": [
        "no rule has status 'Enabled': enable at least one lifecycle rule."
    ],
    "s3-access-logging-target@BucketLogging#0": [
        "targetBucket is the bucket itself (each log write creates more logs): use a separate log bucket."
    ],
    "s3-access-point-blocks-public@AccessPoint#0": [
        "blockPublicPolicy set to false: set every Block Public Access flag to True."
    ],
    "s3-access-point-blocks-public@MultiRegionAccessPoint#0": [
        "restrictPublicBuckets set to false: set every Block Public Access flag to True."
    ],
    "s3-replication-rule-enabled@BucketReplicationConfig#0": [
        "no replication rule has status 'Enabled': enable the cross-Region rule."
    ],
    "ec2-subnet-no-auto-public-ip@Subnet#0": [
        "mapPublicIpOnLaunch is true: set map_public_ip_on_launch=False; only NAT gateways face the internet."
    ],
    "ec2-default-security-group-no-rules@DefaultSecurityGroup#0": [
        "ingress has 1 rule(s): set ingress=[] on the default security group."
    ],
    "ec2-default-security-group-no-rules@DefaultSecurityGroup#1": [
        "egress has 1 rule(s): set egress=[] on the default security group."
    ],
    "ec2-nacl-no-world-admin-ports@NetworkAcl#0": ["rule 200.0 admits the world to port(s) [22, 3389]: narrow it."],
    "ec2-nacl-no-world-admin-ports@NetworkAcl#1": ["rule 200.0 admits the world to port(s) [22, 3389]: narrow it."],
    "ec2-nacl-no-world-admin-ports@NetworkAcl#2": ["rule 200.0 admits the world to port(s) [22]: narrow it."],
    "ec2-nacl-no-world-admin-ports@NetworkAclRule#0": ["rule 300.0 admits the world to port(s) [3389]: narrow it."],
    "ec2-flow-log-all-traffic@FlowLog#0": [
        "trafficType is 'REJECT': set traffic_type='ALL' so rejected connections are recorded too."
    ],
    "ec2-interface-endpoint-private@VpcEndpoint#0": [
        "privateDnsEnabled is not true: SDK calls would bypass the endpoint; set private_dns_enabled=True."
    ],
    "ec2-interface-endpoint-private@VpcEndpoint#1": [
        "securityGroupIds is empty (the VPC default group): attach the endpoints security group."
    ],
    "ec2-imdsv2-required@LaunchTemplate#0": [
        "metadataOptions.httpTokens is 'optional': set http_tokens='required' (IMDSv2 only)."
    ],
    "ec2-imdsv2-required@LaunchTemplate#1": [
        "metadataOptions.httpTokens is 'optional': set http_tokens='required' (IMDSv2 only)."
    ],
    "ec2-imdsv2-required@Instance#0": [
        "metadataOptions.httpTokens is 'optional': set http_tokens='required' (IMDSv2 only)."
    ],
    "ec2-no-public-ip@LaunchTemplate#0": ["networkInterfaces[0].associatePublicIpAddress is true: set it to 'false'."],
    "ec2-no-public-ip@Instance#0": [
        "associatePublicIpAddress is true: set it to False; hosts live in private subnets."
    ],
    "ec2-ebs-encrypted@LaunchTemplate#0": [
        "blockDeviceMappings[0] is not encrypted: set encrypted=True and kms_key_id to the `data` key ARN."
    ],
    "ec2-ebs-encrypted@LaunchTemplate#1": [
        "blockDeviceMappings[0] is not encrypted: set encrypted=True and kms_key_id to the `data` key ARN."
    ],
    "ec2-ebs-encrypted@Instance#0": [
        "rootBlockDevice is not encrypted: set encrypted=True and kms_key_id to the `data` key ARN."
    ],
    "ec2-ebs-encrypted@Instance#1": [
        "ebsBlockDevices[0] is not encrypted: set encrypted=True and kms_key_id to the `data` key ARN."
    ],
    "ec2-ebs-encrypted@Volume#0": [
        "the volume is not encrypted: set encrypted=True and kms_key_id to the `data` key ARN."
    ],
    "ec2-ebs-encrypted@EncryptionByDefault#0": ["enabled is false: keep EBS encryption by default on (enabled=True)."],
    "ec2-single-network-interface@LaunchTemplate#0": ["2 network interfaces: use one."],
    "ec2-vpc-block-public-access@VpcBlockPublicAccessOptions#0": [
        "internetGatewayBlockMode is 'off': set it to 'block-ingress' or 'block-bidirectional'."
    ],
    "kms-key-rotation-enabled@Key#0": ["enableKeyRotation is not true: set enable_key_rotation=True."],
    "kms-key-rotation-enabled@Key#1": ["rotationPeriodInDays is 730: set rotation_period_in_days to at most 365."],
    "kms-key-rotation-enabled@Key#2": ["rotationPeriodInDays is 365: set rotation_period_in_days to at most 180."],
    "kms-key-deletion-window@Key#0": ["deletionWindowInDays is 7: set deletion_window_in_days to at least 30."],
    "kms-key-deletion-window@Key#1": [
        "isEnabled is false: a disabled key makes everything it encrypts unreadable; enable it or remove it."
    ],
    "kms-key-deletion-window@Key#2": ["deletionWindowInDays is 6: set deletion_window_in_days to at least 7."],
    "kms-key-policy-not-public@Key#0": ["statement 'Via' allows any principal: restrict it by principal or condition."],
    "kms-key-policy-not-public@Key#1": ["statement 'Via' allows any principal: restrict it by principal or condition."],
    "kms-key-policy-not-public@KeyPolicy#0": [
        "statement '(no Sid)' allows any principal: restrict it by principal or condition."
    ],
    "iam-no-kms-decrypt-on-all-keys@RolePolicy#0": [
        "statement '(no Sid)' allows ['kms:Decrypt'] on all keys: list key ARNs."
    ],
    "iam-no-kms-decrypt-on-all-keys@RolePolicy#1": [
        "statement '(no Sid)' allows ['kms:Decrypt', 'kms:ReEncryptFrom'] on all keys: list key ARNs."
    ],
    "iam-no-kms-decrypt-on-all-keys@Role#0": [
        "statement '(no Sid)' allows ['kms:Decrypt'] on all keys: list key ARNs."
    ],
    "secretsmanager-secret-encrypted-with-cmk@Secret#0": [
        "kmsKeyId is not set (the AWS-managed aws/secretsmanager key): set kms_key_id to the `secrets` key."
    ],
    "secretsmanager-rotation-schedule@SecretRotation#0": [
        "rotationRules.automaticallyAfterDays is 180: rotate at least every 90 days."
    ],
    "secretsmanager-rotation-schedule@SecretRotation#1": ["rotationEnabled is false: set rotation_enabled=True."],
    "sns-topic-encrypted@Topic#0": [
        "kmsMasterKeyId is not set: set kms_master_key_id so messages are encrypted at rest."
    ],
    "sns-topic-policy-not-public@Topic#0": ["statement 'Anyone' allows anyone: name principals or add a condition."],
    "sns-topic-policy-not-public@TopicPolicy#0": [
        "statement 'CloudWatchPublishes' allows anyone: name principals or add a condition."
    ],
    "sns-delivery-status-logging@Topic#0": [
        "no *FailureFeedbackRoleArn is set: set one for each protocol the topic delivers to."
    ],
    "cloudwatch-alarm-has-actions@MetricAlarm#0": [
        "alarmActions is empty: set alarm_actions to the alerting SNS topic ARN."
    ],
    "cloudwatch-alarm-has-actions@MetricAlarm#1": [
        "alarmActions is empty: set alarm_actions to the alerting SNS topic ARN."
    ],
    "cloudwatch-alarm-has-actions@MetricAlarm#2": [
        "actionsEnabled is false: set actions_enabled=True so the alarm notifies."
    ],
    "cloudwatch-alarm-has-actions@MetricAlarm#3": [
        "actionsEnabled is false: set actions_enabled=True so the alarm notifies."
    ],
    "cloudwatch-alarm-has-actions@MetricAlarm#4": [
        "alarmActions is empty: set alarm_actions to the alerting SNS topic ARN."
    ],
    "cloudwatch-alarm-has-actions@CompositeAlarm#0": [
        "alarmActions is empty: set alarm_actions to the alerting SNS topic ARN."
    ],
    "cloudwatch-log-group-encrypted@LogGroup#0": ["kmsKeyId is not set: set kms_key_id to the `logs` key ARN."],
    "cloudwatch-log-group-retention@LogGroup#0": ["retentionInDays is 30: set retention_in_days to at least 365."],
    "cloudwatch-log-group-retention@LogGroup#1": ["retentionInDays is 14: set retention_in_days to at least 30."],
    "lambda-not-public@Permission#0": ["principal '*' has no source restriction: set source_arn or source_account."],
    "lambda-not-public@Permission#1": [
        "principal 's3.amazonaws.com' has no source restriction: set source_arn or source_account."
    ],
    "lambda-not-public@FunctionUrl#0": ["authorizationType is 'NONE' (public URL): set authorization_type='AWS_IAM'."],
    "lambda-in-vpc@Function#0": ["vpcConfig.subnetIds is empty: set vpc_config with the app subnets."],
    "lambda-in-vpc@Function#1": ["vpcConfig.subnetIds is empty: set vpc_config with the app subnets."],
    "lambda-active-tracing@Function#0": ["tracingConfig.mode is 'PassThrough': set tracing_config mode 'Active'."],
    "lambda-active-tracing@Function#1": ["tracingConfig.mode is 'PassThrough': set tracing_config mode 'Active'."],
    "required-tags@Subnet#0": [
        "missing tag(s) ['environment', 'service', 'owner', 'data-classification']: add them (they come from StackConfig.tags_for)."
    ],
    "required-tags@Subnet#1": ["missing tag(s) ['owner']: add them (they come from StackConfig.tags_for)."],
    "required-tags@Subnet#2": ["tag environment='production' is not allowed: use one of ['dev', 'staging', 'prod']."],
    "required-tags@Subnet#3": ["missing tag(s) ['service']: add them (they come from StackConfig.tags_for)."],
    "required-tags@Subnet#4": [
        "missing tag(s) ['environment', 'service', 'owner', 'data-classification']: add them (they come from StackConfig.tags_for)."
    ],
    "required-tags@Function#0": [
        "missing tag(s) ['environment', 'service', 'owner', 'data-classification']: add them (they come from StackConfig.tags_for)."
    ],
    "required-tags@Group#0": [
        "missing tag(s) ['environment', 'service', 'owner', 'data-classification']: add them (they come from StackConfig.tags_for)."
    ],
    "required-tags@Group#1": [
        "missing tag(s) ['environment', 'service', 'data-classification']: add them (they come from StackConfig.tags_for)."
    ],
    "required-tags@Group#2": ["tag environment='production' is not allowed: use one of ['dev', 'staging', 'prod']."],
    "no-world-ingress@SecurityGroupIngressRule#0": [
        "ingress from ['0.0.0.0/0'] on tcp 443-443: admit a security group or the VPC CIDR instead."
    ],
    "no-world-ingress@SecurityGroupIngressRule#1": [
        "ingress from ['::/0'] on all ports: admit a security group or the VPC CIDR instead."
    ],
    "no-world-ingress@SecurityGroup#0": [
        "ingress from ['0.0.0.0/0'] on tcp 22-22: admit a security group or the VPC CIDR instead."
    ],
    "no-world-ingress@SecurityGroupRule#0": [
        "ingress from ['0.0.0.0/0'] on tcp 443-443: admit a security group or the VPC CIDR instead."
    ],
    "timescaledb-self-hosted-only@ParameterGroup#0": [
        "shared_preload_libraries = 'pg_stat_statements,timescaledb' loads timescaledb, which RDS does not offer: remove it."
    ],
    "docker-container-not-privileged@Container#0": [
        "privileged=True: the container can take over the Docker host; run it unprivileged."
    ],
    "docker-container-no-host-namespaces@Container#0": [
        "networkMode=host: the container shares the host's namespace; use the bridge network instead."
    ],
    "docker-container-no-host-namespaces@Container#1": [
        "pidMode=host: the container shares the host's namespace; use the bridge network instead."
    ],
    "docker-container-no-host-namespaces@Container#2": [
        "ipcMode=host: the container shares the host's namespace; use the bridge network instead."
    ],
    "docker-no-secret-in-plain-environment@Container#0": [
        "environment variable PATRONI_SUPERUSER_PASSWORD looks like a credential: upload it as a secret file instead."
    ],
    "docker-no-secret-in-plain-environment@Container#1": [
        "environment variable REDISCLI_AUTH looks like a credential: upload it as a secret file instead."
    ],
    "docker-no-secret-in-plain-environment@Container#2": [
        "environment variable API_TOKEN looks like a credential: upload it as a secret file instead."
    ],
    "docker-no-secret-in-plain-environment@Image#0": [
        "build argument DB_PASSWORD looks like a credential: it stays in the image's history."
    ],
    "docker-container-limits-and-health-check@Container#0": ["no memory limit: set memory (MB)."],
    "docker-container-limits-and-health-check@Container#1": [
        "memory_swap=-1.0: set it equal to memory (512) so the limit is not swapped around."
    ],
    "docker-container-limits-and-health-check@Container#2": ["no CPU limit: set cpus (e.g. '0.5')."],
    "docker-container-limits-and-health-check@Container#3": [
        "no health check: set healthcheck with tests=['CMD', ...]."
    ],
    "docker-container-limits-and-health-check@Container#4": [
        "no health check: set healthcheck with tests=['CMD', ...]."
    ],
    "kubernetes-pod-security-restricted@Deployment#0": [
        "container 'writer-0': privileged=true gives it the node; remove it"
    ],
    "kubernetes-namespace-restricted@Namespace#0": [
        "pod-security.kubernetes.io/enforce is 'baseline': label the namespace with 'restricted'"
    ],
    "kubernetes-requests-and-limits@Deployment#0": [
        "container 'writer-0': no requests.cpu, requests.memory, limits.cpu, limits.memory; set them"
    ],
    "kubernetes-probes@Deployment#0": ["container 'writer-0': no livenessProbe; add them"],
    "kubernetes-image-pinned@Deployment#0": [
        "container 'writer-0': image 'pgbouncer:latest' is not pinned; pin a digest or exact version"
    ],
    "kubernetes-cnpg-cluster-resilient@Cluster#0": [
        "instances = 1: run at least 3 (a primary and a standby in each other zone)"
    ],
    "kubernetes-requests-and-limits@Pooler#0": [
        "container 'pgbouncer': no requests.cpu, requests.memory, limits.cpu, limits.memory; set them"
    ],
    "kubernetes-no-plaintext-secret@Secret#0": [
        "Secret declared with stringData: its values land in the Pulumi state; use an ExternalSecret"
    ],
    "rds-postgres-audit-logging@ParameterGroup#0": [
        "shared_preload_libraries does not load pgaudit: add it (a reboot applies it)."
    ],
    "rds-postgres-audit-logging@ParameterGroup#1": ["pgaudit.log does not log ['role']: set it to include ddl, role."],
    "rds-postgres-audit-logging@ParameterGroup#2": [
        "log_disconnections is not 1: set it so every session is on record."
    ],
    "rds-postgres-audit-logging@ParameterGroup#3": ["log_connections is not 1: set it so every session is on record."],
}
