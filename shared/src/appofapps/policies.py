"""IAM and KMS policy documents shared by several components."""

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
