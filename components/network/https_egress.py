"""The security group of a function that only calls out over HTTPS (webhooks, AWS APIs) from the app tier."""

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws


def https_only_security_group(
    label: str,
    *,
    vpc_id: pulumi.Input[str],
    description: str,
    egress_description: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.ec2.SecurityGroup:
    """`label` admits nothing and sends only HTTPS (rule `<label>-https-out`): the app tier's NAT or the VPC's
    interface endpoints carry it on."""
    group = aws.ec2.SecurityGroup(
        label, vpc_id=vpc_id, description=description, tags={**tags, "Name": label}, opts=opts
    )
    aws.vpc.SecurityGroupEgressRule(
        f"{label}-https-out",
        security_group_id=group.id,
        description=egress_description,
        ip_protocol="tcp",
        from_port=443,
        to_port=443,
        cidr_ipv4="0.0.0.0/0",
        tags={**tags, "Name": f"{label}-https-out"},
        opts=opts,
    )
    return group
