"""Trust policies: which AWS service may assume a role, on behalf of which account and source (confused deputy)."""

from typing import Any


def service_trust(service: str, account_id: str | None = None, source_arn: str | None = None) -> dict[str, Any]:
    """Only `service` may assume the role; with `account_id` only on behalf of this account (aws:SourceAccount),
    with `source_arn` only for that resource. EC2 and Lambda send neither key with AssumeRole: pass None."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    condition: dict[str, Any] = {}
    if account_id is not None:
        condition["StringEquals"] = {"aws:SourceAccount": account_id}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}
