"""Lambda code signing as both stacks declare it (mock engine): every function runs the copy AWS Signer signed of the
package uploaded for it, under an enforcing code signing configuration of its own region, from an artifacts bucket
that has every setting prod's S3 rules ask for."""

import json
from pathlib import Path

from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation, RecordedResource

FUNCTION = "aws:lambda/function:Function"
CONFIG = "aws:lambda/codeSigningConfig:CodeSigningConfig"
PROFILE = "aws:signer/signingProfile:SigningProfile"
JOB = "aws:signer/signingJob:SigningJob"
PACKAGE = "aws:s3/bucketObjectv2:BucketObjectv2"
BUCKET = "aws:s3/bucket:Bucket"
COMPONENT = "cryb:signing:CodeSigning"


def source_of(evaluation: Evaluation, resource: RecordedResource, key: str, type_token: str) -> RecordedResource:
    """The one resource of `type_token` the input `key` was computed from (the dependencies the engine records)."""
    found = [evaluation.by_urn(u) for u in resource.property_dependencies.get(key, [])]
    (source,) = [r for r in found if r is not None and r.type == type_token]
    return source


def signing_component(evaluation: Evaluation, resource: RecordedResource) -> RecordedResource:
    (component,) = [a for a in evaluation.ancestors(resource) if a.type == COMPONENT]
    return component


def test_prod_declares_a_code_signing_per_region_with_a_lambda(prod: Evaluation) -> None:
    assert sorted(c.name for c in prod.of_type(COMPONENT)) == ["cryb-prod-dr-signing", "cryb-prod-signing"]
    assert sorted(f.name for f in prod.of_type(FUNCTION)) == [
        "cryb-prod-alerts-forwarder",
        "cryb-prod-analytics-rotation-function",
        "cryb-prod-cache-rotation-function",
        "cryb-prod-dr-alerts-forwarder",
    ]


def test_dev_declares_one_code_signing(dev: Evaluation) -> None:
    assert [c.name for c in dev.of_type(COMPONENT)] == ["cryb-dev-signing"]
    assert len(dev.of_type(FUNCTION)) == 2


def test_every_function_runs_its_signed_package_under_an_enforcing_configuration(each_stack: Evaluation) -> None:
    functions = each_stack.of_type(FUNCTION)
    assert functions
    for function in functions:
        assert "code" not in function.inputs and "filename" not in function.inputs, function.name
        job = each_stack.named(f"{function.name}-signing")
        package = each_stack.named(f"{function.name}-package")
        # the job signs exactly the uploaded version of this function's package ...
        source = job.inputs["source"]["s3"]
        assert source["key"] == package.inputs["key"] == f"unsigned/{function.name}.zip"
        assert source["version"] == f"v-{package.name}-0001"  # the version S3 gave the upload (mock)
        assert source["bucket"] == job.inputs["destination"]["s3"]["bucket"] == package.inputs["bucket"]
        # ... into the function's signed prefix, and the function runs that signed copy
        assert job.inputs["destination"]["s3"]["prefix"] == f"signed/{function.name}/"
        assert function.inputs["s3Bucket"] == source["bucket"]
        assert function.inputs["s3Key"].startswith(f"signed/{function.name}/")
        assert function.inputs["s3Key"].endswith(".zip")
        assert job.inputs.get("ignoreSigningJobFailure") is False
        # the configuration is the one of the function's own region, allows only its profile, and enforces
        config = source_of(each_stack, function, "codeSigningConfigArn", CONFIG)
        assert config.inputs["policies"] == {"untrustedArtifactOnDeployment": "Enforce"}
        store = signing_component(each_stack, config)
        profile = each_stack.named(f"{store.name}-profile")
        assert config.inputs["allowedPublishers"]["signingProfileVersionArns"] == [
            f"arn:aws:signer:{region_of(each_stack, profile)}:123456789012:/signing-profiles/{profile.name}/Ab1Cd2Ef3G"
        ]
        assert job.inputs["profileName"] == profile.name
        bucket = each_stack.named(f"{store.name}-artifacts")
        assert source["bucket"] == bucket.name  # mock bucket names are the logical names
        # one region for all of it: Signer signs only within a region, Lambda reads code only from its own
        assert {function.provider, job.provider, package.provider, config.provider, profile.provider} == {
            bucket.provider
        }


def region_of(evaluation: Evaluation, resource: RecordedResource) -> str:
    if resource.provider is None or "::cryb-" not in resource.provider:
        return "us-east-1"
    return resource.provider.split("::")[-2].split("-", 2)[-1]


def test_the_dr_forwarder_is_signed_in_the_dr_region(prod: Evaluation) -> None:
    (forwarder,) = [f for f in prod.of_type(FUNCTION) if f.name == "cryb-prod-dr-alerts-forwarder"]
    config = source_of(prod, forwarder, "codeSigningConfigArn", CONFIG)
    assert signing_component(prod, config).name == "cryb-prod-dr-signing"
    assert ":us-west-2:" in forwarder.inputs["codeSigningConfigArn"]
    assert forwarder.inputs["s3Bucket"] == "cryb-prod-dr-signing-artifacts"


def test_every_profile_signs_for_lambda(each_stack: Evaluation) -> None:
    for profile in each_stack.of_type(PROFILE):
        assert profile.inputs["platformId"] == "AWSLambda-SHA384-ECDSA"
        assert profile.inputs["signatureValidityPeriod"] == {"type": "MONTHS", "value": 135}
        # Signer profile names allow letters, digits and underscores only
        assert profile.inputs["namePrefix"].replace("_", "").isalnum()


def test_the_artifacts_bucket_is_locked_down(each_stack: Evaluation) -> None:
    for store in each_stack.of_type(COMPONENT):
        bucket = each_stack.named(f"{store.name}-artifacts")
        assert bucket.inputs["objectLockEnabled"] is True
        assert each_stack.named(f"{store.name}-artifacts-versioning").inputs["versioningConfiguration"] == {
            "status": "Enabled"
        }
        (rule,) = each_stack.named(f"{store.name}-artifacts-encryption").inputs["rules"]
        default = rule["applyServerSideEncryptionByDefault"]
        assert default["sseAlgorithm"] == "aws:kms"
        assert default["kmsMasterKeyId"].endswith("-keys-artifacts")  # the region's `artifacts` key (mock ARN)
        block = each_stack.named(f"{store.name}-artifacts-public-access-block").inputs
        assert all(
            block[flag] is True
            for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        policy = json.loads(each_stack.named(f"{store.name}-artifacts-policy").inputs["policy"])
        insecure = [s for s in policy["Statement"] if s.get("Condition", {}).get("Bool")]
        assert insecure == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket.name}", f"arn:aws:s3:::{bucket.name}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
        logging = each_stack.named(f"{store.name}-artifacts-logging").inputs
        assert logging["targetBucket"] == f"{store.name}-access-logs" != bucket.name


def test_prod_replicates_the_artifacts_to_the_dr_region(prod: Evaluation) -> None:
    replication = prod.named("cryb-prod-signing-replication")
    (rule,) = replication.inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["destination"]["bucket"] == "arn:aws:s3:::cryb-prod-dr-signing-artifacts"
    assert rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"].endswith("dr-keys-artifacts")


def test_the_uploaded_package_is_the_functions_archive(prod: Evaluation, tmp_path: Path) -> None:
    package = prod.named("cryb-prod-alerts-forwarder-package")
    assets = package.inputs["source"]["assets"]
    assert sorted(assets) == ["handler.py"]
    assert (PROJECT_DIR / assets["handler.py"]["path"]).read_text().startswith('"""')
    assert package.inputs["checksumAlgorithm"] == "SHA256"
    assert package.inputs["contentType"] == "application/zip"
