"""IAM statements every in-VPC Lambda of the stack needs (the alert forwarder, the cache rotation function)."""

from typing import Any

# What Lambda needs to attach a function to its subnets: the actions of AWSLambdaVPCAccessExecutionRole.
VPC_ACCESS_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


def vpc_access_statement(region: str) -> dict[str, Any]:
    """EC2 has no resource-level permissions for Describe*, and the interfaces' ids are not known before Lambda
    creates them, so the resource is "*", limited to the stack's region."""
    return {
        "Sid": "VpcNetworkInterfaces",
        "Effect": "Allow",
        "Action": list(VPC_ACCESS_ACTIONS),
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
    }
