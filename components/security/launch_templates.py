"""The hardened launch template every self-hosted node starts from (cache nodes, Patroni nodes): IMDSv2 only, no
public IP, an encrypted gp3 root volume with the stack's CMK, detailed monitoring, tags on what it launches."""

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws


def hardened_launch_template(
    label: str,
    *,
    description: str,
    image_ssm_parameter: str,
    instance_type: str,
    instance_profile_arn: pulumi.Input[str],
    subnet_id: pulumi.Input[str],
    security_group_ids: Sequence[pulumi.Input[str]],
    root_volume_gib: int,
    kms_key_arn: pulumi.Input[str],
    user_data: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.ec2.LaunchTemplate:
    """A launch template named `label` (EC2.8 IMDSv2, EC2.9 no public IP, EC2.3/EC2.7 encrypted volumes)."""
    return aws.ec2.LaunchTemplate(
        label,
        name_prefix=f"{label}-",
        description=description,
        image_id=f"resolve:ssm:{image_ssm_parameter}",
        instance_type=instance_type,
        iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=instance_profile_arn),
        # A hop limit of 1 keeps the credentials away from containers on the node.
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
        ),
        network_interfaces=[
            aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                device_index=0,
                subnet_id=subnet_id,
                security_groups=list(security_group_ids),
                associate_public_ip_address="false",
                delete_on_termination="true",
            )
        ],
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=root_volume_gib,
                    volume_type="gp3",
                    encrypted="true",
                    kms_key_id=kms_key_arn,
                    delete_on_termination="true",
                ),
            )
        ],
        ebs_optimized="true",
        monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
        user_data=user_data,
        tag_specifications=[
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=dict(tags))
            for kind in ("instance", "volume", "network-interface")
        ],
        update_default_version=True,
        tags=dict(tags),
        opts=opts,
    )
