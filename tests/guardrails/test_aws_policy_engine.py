"""The AWS rules through the engine's policy gate.

No AWS provider can run here, so the resources come from the fixture provider plugin launched as the ``aws``
package: the engine sees real AWS type tokens and camelCase properties, runs the estate's real policy pack on them
in the preview that guards every deploy, and the provider only ever keeps state. A stack breaking the rules
(public bucket, 0.0.0.0/0 ingress, unencrypted volume, missing tags) is blocked with nothing changed; a compliant
one deploys, previews clean, refreshes without drift and is destroyed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import orchestrate
from orchestrator.estates import write_project
from orchestrator.fault_estates import journal, write_provider_project

from appofapps.engine.bootstrap import Engine
from appofapps.orchestrator import Operation, Status
from appofapps.tags import ownership_tags

from .kube_estates import write_pack
from .test_policy_engine import checkpoint_resources

pytestmark = pytest.mark.engine

TAGS = ownership_tags(team="payments", app="ledger", environment="local", cost_centre="cc-1")
PRIVATE = dict.fromkeys(
    ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
)
KMS = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": True}]


def aws(type_: str, resource_name: str, **props: Any) -> dict[str, object]:
    return {"type": type_, "name": resource_name, "props": props}


VIOLATING = [
    aws("aws:s3/bucket:Bucket", "public-data", bucket="public-data", acl="public-read", tags=TAGS),
    aws(
        "aws:ec2/securityGroup:SecurityGroup",
        "ssh-from-anywhere",
        ingress=[{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}],
        tags=TAGS,
    ),
    aws(
        "aws:ebs/volume:Volume",
        "plain-disk",
        availabilityZone="eu-west-1a",
        size=8,
        encrypted=False,
        tags=TAGS,
    ),
    aws("aws:sqs/queue:Queue", "untagged", name="untagged"),
]
COMPLIANT = [
    aws("aws:s3/bucket:Bucket", "data", bucket="data", tags=TAGS),
    aws("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "data-private", bucket="data", **PRIVATE),
    aws(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "data-encrypted",
        bucket="data",
        rules=KMS,
    ),
    aws(
        "aws:ec2/securityGroup:SecurityGroup",
        "database",
        ingress=[{"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrBlocks": ["10.0.0.0/16"]}],
        tags=TAGS,
    ),
    aws("aws:ebs/volume:Volume", "disk", availabilityZone="eu-west-1a", size=8, encrypted=True, tags=TAGS),
    aws("aws:sqs/queue:Queue", "jobs", name="jobs", tags=TAGS),
]
# What the violating stack breaks, rule by rule, and on which resource.
EXPECTED = {
    ("s3-bucket-public-access-blocked", "aws:s3/bucket:Bucket::public-data"),
    ("s3-bucket-encrypted", "aws:s3/bucket:Bucket::public-data"),
    ("security-group-ingress", "aws:ec2/securityGroup:SecurityGroup::ssh-from-anywhere"),
    ("ebs-encrypted", "aws:ebs/volume:Volume::plain-disk"),
    ("required-tags", "aws:sqs/queue:Queue::untagged"),
}


def with_journal(resources: list[dict[str, object]], events: Path) -> list[dict[str, object]]:
    return [{**r, "props": {**r["props"], "__journal": str(events)}} for r in resources]  # type: ignore[dict-item]


def test_mandatory_aws_violations_block_the_stack_with_nothing_changed_and_compliant_resources_pass(
    engine: Engine, engine_env: dict[str, str], backend_dir: Path, tmp_path: Path
) -> None:
    root, plugins = tmp_path / "estate", tmp_path / "plugins"
    bad_events, good_events = tmp_path / "bad.jsonl", tmp_path / "good.jsonl"
    write_pack(root)
    write_provider_project(
        root, "aws-bad", "aws-bad", with_journal(VIOLATING, bad_events), plugins=plugins, package="aws"
    )
    write_provider_project(
        root, "aws-good", "aws-good", with_journal(COMPLIANT, good_events), plugins=plugins, package="aws"
    )
    write_project(root, "after", "after", deps=["aws-bad"])

    deploy = orchestrate(engine, engine_env, root, Operation.DEPLOY)
    bad = deploy.results["aws-bad"]
    assert bad.status is Status.FAILED and bad.error_kind == "policy", bad.reason
    assert bad.attempts == 1  # a policy failure is never retried
    found = {(v.policy, v.urn.removeprefix("urn:pulumi:local::aws-bad::")) for v in bad.policy_violations}
    assert found == EXPECTED, found
    assert {v.level for v in bad.policy_violations} == {"mandatory"}
    public = sorted(v.message for v in bad.policy_violations if v.policy == "s3-bucket-public-access-blocked")
    assert public == [
        "bucket public-data has a public canned ACL (public-read)",
        "bucket public-data has no BucketPublicAccessBlock in this stack",
    ]
    assert bad.reason == "blocked by 6 mandatory policy violation(s); nothing was changed"
    assert checkpoint_resources(backend_dir, "aws-bad") == []
    assert journal(bad_events) == []  # the provider was never asked to create anything
    assert deploy.results["after"].status is Status.SKIPPED

    good = deploy.results["aws-good"]
    assert good.status is Status.DONE and good.policy_violations == [], good.reason
    assert good.changes == {"create": len(COMPLIANT) + 1}, good.changes  # and the stack itself
    assert [e["event"] for e in journal(good_events)].count("created") == len(COMPLIANT)

    preview = orchestrate(engine, engine_env, root, Operation.PREVIEW, "aws-good")
    assert preview.ok and set(preview.results["aws-good"].changes) == {"same"}, preview.results["aws-good"]
    refresh = orchestrate(engine, engine_env, root, Operation.REFRESH, "aws-good")
    assert refresh.ok and refresh.results["aws-good"].drift == [], refresh.results["aws-good"].reason
    destroy = orchestrate(engine, engine_env, root, Operation.DESTROY)
    assert destroy.ok, {name: r.reason for name, r in destroy.results.items()}
    assert checkpoint_resources(backend_dir, "aws-good") == []
