"""IAM and KMS policy documents, and the KMS-encrypted log group built on them, shared by several components."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws


def logs_key_policy(parent: pulumi.Resource) -> pulumi.Output[str]:
    """A KMS key policy: the account administers the key; CloudWatch Logs of this account and region may use it.

    Without the second statement a log group cannot be created with the key at all.
    """
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    identity = aws.get_caller_identity_output(opts=invoke)
    region = aws.get_region_output(opts=invoke)

    def render(values: list[str]) -> str:
        account, name = values
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AccountAdministers",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Sid": "LogsEncrypt",
                        "Effect": "Allow",
                        "Principal": {"Service": f"logs.{name}.amazonaws.com"},
                        "Action": [
                            "kms:Encrypt*",
                            "kms:Decrypt*",
                            "kms:ReEncrypt*",
                            "kms:GenerateDataKey*",
                            "kms:Describe*",
                        ],
                        "Resource": "*",
                        "Condition": {
                            "ArnLike": {
                                "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{name}:{account}:*"
                            }
                        },
                    },
                ],
            }
        )

    return pulumi.Output.all(identity.account_id, region.region).apply(render)


def service_trust(service: str) -> str:
    """A role trust policy that lets one AWS service (``eks.amazonaws.com``, …) assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def encrypted_log_group(
    parent: pulumi.Resource,
    *,
    key_name: str,
    group_name: str,
    description: str,
    retention_days: int,
    log_group_name: str | None = None,
) -> aws.cloudwatch.LogGroup:
    """A CloudWatch log group encrypted with its own rotated KMS key, which only this account's logs may use."""
    child = pulumi.ResourceOptions(parent=parent)
    key = aws.kms.Key(
        key_name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=logs_key_policy(parent),
        opts=child,
    )
    return aws.cloudwatch.LogGroup(
        group_name,
        name=log_group_name,
        retention_in_days=retention_days,
        kms_key_id=key.arn,
        opts=child,
    )
