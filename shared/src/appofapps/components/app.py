"""The team app: one repeatable template from a manifest to a running, least-privileged service.

Kubernetes side: ServiceAccount, Deployment (requests = limits, probes, non-root), Service, HPA, PDB and a
NetworkPolicy admitting only the apps whose manifests call this one. AWS side (staging/production only): an
IAM role only this service account can assume through the cluster's OIDC provider, the app's own bucket and
queue (encrypted, private) and its secrets' containers in Secrets Manager, with a policy naming exactly them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from appofapps.components.tenancy import TEAM_LABEL
from appofapps.k8s import Kube
from appofapps.manifest import Manifest

if TYPE_CHECKING:
    import pulumi_aws as aws

TYPE = "appofapps:app:App"
APP_LABEL = "appofapps.io/app"
SERVICE_PORT = 80
RUN_AS = 10001
TARGET_CPU_PERCENT = 70
# The field the HorizontalPodAutoscaler sets through the scale subresource once a Deployment exists.
HPA_OWNED = "spec.replicas"


@dataclass
class AwsIdentity:
    """What an app needs from the cluster to get an IAM role for its service account."""

    oidc_provider_arn: pulumi.Input[str]
    """ARN of the cluster's IAM OIDC provider."""
    oidc_issuer: pulumi.Input[str]
    """Issuer host/path without scheme: the prefix of the trust policy's condition keys."""


@dataclass
class AppArgs:
    manifest: Manifest
    """The validated app manifest."""
    environment: str
    """Stack/environment name; part of AWS resource names so environments never collide."""
    kube: Kube
    """Where the Kubernetes objects go."""
    namespace: pulumi.Input[str]
    """The team's namespace, from the cluster's tenancy."""
    callers: Sequence[Manifest] = ()
    """Apps that declare they call this one: the only ones admitted."""
    callees: Sequence[Manifest] = ()
    """Apps this one calls: egress is opened to them only."""
    callee_endpoints: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """``<team>/<app>`` -> endpoint read from the callee's stack."""
    aws_identity: AwsIdentity | None = None
    """The cluster's OIDC identity; None switches the AWS side off (`local`)."""
    secret_values: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """`local` only: secret name -> value from encrypted stack config, stored as a Kubernetes Secret."""
    rollout_timeout: str | None = None
    """How long the engine awaits the Deployment's rollout on a live cluster (a Go duration); None: its default."""


def env_name(text: str) -> str:
    """``payments/ledger`` -> ``PAYMENTS_LEDGER``: a stable environment-variable spelling."""
    return "".join(char if char.isalnum() else "_" for char in text).upper()


def irsa_trust_policy(provider_arn: str, issuer: str, namespace: str, service_account: str) -> str:
    """A trust policy only ``namespace/service_account`` tokens from this cluster's issuer satisfy."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )


def access_policy(bucket_arn: str | None, queue_arn: str | None, secret_arns: Sequence[str]) -> str:
    """Least privilege: object access to its own bucket, message access to its own queue, read its secrets."""
    statements: list[dict[str, Any]] = []
    if bucket_arn:
        statements.append({"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]})
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{bucket_arn}/*"],
            }
        )
    if queue_arn:
        statements.append(
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:SendMessage",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                ],
                "Resource": [queue_arn],
            }
        )
    if secret_arns:
        statements.append(
            {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": list(secret_arns)}
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class App(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    service_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    service_account: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        manifest, kube = args.manifest, args.kube
        app = manifest.name
        namespace = pulumi.Output.from_input(args.namespace)
        labels = {APP_LABEL: manifest.project, TEAM_LABEL: manifest.team}
        env: list[k8s.core.v1.EnvVarArgs] = [
            k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in sorted(manifest.env.items())
        ]
        for callee in args.callees:
            env.append(
                k8s.core.v1.EnvVarArgs(
                    name=f"{env_name(callee.key)}_URL", value=args.callee_endpoints[callee.key]
                )
            )

        role_arn: pulumi.Output[str] = pulumi.Output.from_input("")
        sa_annotations: dict[str, pulumi.Input[str]] = {}
        if args.aws_identity is not None:
            role, aws_env = self._aws_side(name, args, namespace)
            role_arn = role.arn
            sa_annotations["eks.amazonaws.com/role-arn"] = role.arn
            env.extend(aws_env)
        else:
            env.extend(self._local_secrets(name, args, namespace, labels))

        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=kube.metadata(app, namespace, labels, sa_annotations),
            # The pod never talks to the Kubernetes API; the IRSA webhook mounts its own AWS token.
            automount_service_account_token=False,
            opts=kube.opts(self),
        )
        resources = {"cpu": manifest.cpu, "memory": manifest.memory}
        probe = k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=manifest.health_path, port="http"),
            period_seconds=10,
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=kube.metadata(app, namespace, labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=manifest.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={APP_LABEL: manifest.project}),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=service_account.metadata.name,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=RUN_AS,
                            run_as_group=RUN_AS,
                            fs_group=RUN_AS,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=app,
                                image=manifest.image,
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(name="http", container_port=manifest.port)
                                ],
                                env=env,
                                # Requests equal limits: Guaranteed QoS, and the team quota counts both.
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests=resources, limits=resources
                                ),
                                readiness_probe=probe,
                                liveness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=probe.http_get, period_seconds=20, initial_delay_seconds=10
                                ),
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    run_as_non_root=True,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                ),
                                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],  # noqa: S108 - a private emptyDir
                            )
                        ],
                        # A writable scratch directory, since the root filesystem is read-only.
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
                            )
                        ],
                    ),
                ),
            ),
            # A rollout that never becomes ready fails the stack within the environment's bound, with the
            # API's reason (quota refused, unschedulable), instead of the engine's default of ten minutes.
            # On a live cluster the HPA below owns `replicas` once the Deployment exists: the force-apply
            # would otherwise take it back on every deploy and scale a busy app down to its minimum.
            opts=pulumi.ResourceOptions.merge(
                kube.opts(self),
                pulumi.ResourceOptions(
                    custom_timeouts=pulumi.CustomTimeouts(
                        create=args.rollout_timeout, update=args.rollout_timeout
                    )
                    if args.rollout_timeout
                    else None,
                    ignore_changes=[HPA_OWNED] if kube.rendered_to is None else None,
                ),
            ),
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=kube.metadata(app, namespace, labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector={APP_LABEL: manifest.project},
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=SERVICE_PORT, target_port="http")],
            ),
            opts=kube.opts(self),
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=kube.metadata(app, namespace),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                ),
                min_replicas=manifest.replicas,
                max_replicas=manifest.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=TARGET_CPU_PERCENT
                            ),
                        ),
                    )
                ],
            ),
            opts=kube.opts(self),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=kube.metadata(app, namespace),
            # maxUnavailable rather than minAvailable: a single-replica app must not block node drains forever.
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={APP_LABEL: manifest.project}),
            ),
            opts=kube.opts(self),
        )
        self._network_policy(name, args, namespace)

        self.service_name = service.metadata.name
        self.namespace = namespace
        self.service_account = service_account.metadata.name
        self.endpoint = pulumi.Output.concat(
            "http://", service.metadata.name, ".", namespace, ".svc.cluster.local:", str(SERVICE_PORT)
        )
        self.role_arn = role_arn
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "service_name": self.service_name,
                "namespace": self.namespace,
                "service_account": self.service_account,
                "role_arn": self.role_arn,
            }
        )

    def _aws_side(
        self, name: str, args: AppArgs, namespace: pulumi.Output[str]
    ) -> tuple[aws.iam.Role, list[k8s.core.v1.EnvVarArgs]]:
        """The IRSA role, the app-owned AWS resources and the one policy tying them together."""
        # Imported here: a `local` app creates no AWS resource, and its program need not load the AWS SDK.
        import pulumi_aws as aws

        assert args.aws_identity is not None
        manifest = args.manifest
        child = pulumi.ResourceOptions(parent=self)
        env: list[k8s.core.v1.EnvVarArgs] = []
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pulumi.Output.all(
                args.aws_identity.oidc_provider_arn, args.aws_identity.oidc_issuer, namespace
            ).apply(lambda values: irsa_trust_policy(values[0], values[1], values[2], manifest.name)),
            opts=child,
        )
        bucket_arn: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        queue_arn: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if manifest.bucket:
            bucket = aws.s3.Bucket(f"{name}-data", opts=child)
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-data",
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="aws:kms"
                        ),
                        bucket_key_enabled=True,
                    )
                ],
                opts=child,
            )
            aws.s3.BucketPublicAccessBlock(
                f"{name}-data",
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=child,
            )
            # ACLs off: access is decided by IAM policy alone.
            aws.s3.BucketOwnershipControls(
                f"{name}-data",
                bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                opts=child,
            )
            bucket_arn = bucket.arn
            env.append(k8s.core.v1.EnvVarArgs(name="BUCKET_NAME", value=bucket.bucket))
        if manifest.queue:
            queue = aws.sqs.Queue(f"{name}-queue", sqs_managed_sse_enabled=True, opts=child)
            queue_arn = queue.arn
            env.append(k8s.core.v1.EnvVarArgs(name="QUEUE_URL", value=queue.url))
        secret_arns: list[pulumi.Output[str]] = []
        for secret_name in manifest.secrets:
            # Only the container: its value is put by the owning team, so it never passes through Pulumi state.
            secret = aws.secretsmanager.Secret(
                f"{name}-{secret_name}",
                name=f"{args.environment}/{manifest.team}/{manifest.name}/{secret_name}",
                recovery_window_in_days=7,
                opts=child,
            )
            secret_arns.append(secret.arn)
            env.append(k8s.core.v1.EnvVarArgs(name=f"{env_name(secret_name)}_SECRET_ARN", value=secret.arn))
        if manifest.bucket or manifest.queue or manifest.secrets:
            aws.iam.RolePolicy(
                f"{name}-access",
                role=role.id,
                policy=pulumi.Output.all(bucket_arn, queue_arn, *secret_arns).apply(
                    lambda values: access_policy(values[0], values[1], values[2:])
                ),
                opts=child,
            )
        return role, env

    def _local_secrets(
        self, name: str, args: AppArgs, namespace: pulumi.Output[str], labels: Mapping[str, str]
    ) -> list[k8s.core.v1.EnvVarArgs]:
        """In `local`, secret values come from encrypted stack config into one Kubernetes Secret."""
        manifest, kube = args.manifest, args.kube
        if not manifest.secrets:
            return []
        missing = sorted(set(manifest.secrets) - set(args.secret_values))
        if missing:
            raise ValueError(f"{manifest.path}: secrets: no local value for {missing}")
        secret = k8s.core.v1.Secret(
            f"{name}-secrets",
            metadata=kube.metadata(f"{manifest.name}-secrets", namespace, labels),
            string_data={secret_name: args.secret_values[secret_name] for secret_name in manifest.secrets},
            opts=kube.opts(self),
        )
        return [
            k8s.core.v1.EnvVarArgs(
                name=env_name(secret_name),
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                        name=secret.metadata.name, key=secret_name
                    )
                ),
            )
            for secret_name in manifest.secrets
        ]

    def _network_policy(self, name: str, args: AppArgs, namespace: pulumi.Output[str]) -> None:
        """Admit only declared callers; let traffic out only to declared callees (and AWS APIs when in the cloud)."""
        manifest, kube = args.manifest, args.kube

        def peer(other: Manifest) -> k8s.networking.v1.NetworkPolicyPeerArgs:
            return k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={TEAM_LABEL: other.team}),
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={APP_LABEL: other.project}),
            )

        ingress = (
            [
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[peer(caller) for caller in args.callers],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=manifest.port)],
                )
            ]
            if args.callers
            else []
        )
        egress = [
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[peer(callee)],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=callee.port)],
            )
            for callee in args.callees
        ]
        if args.aws_identity is not None and (manifest.bucket or manifest.queue or manifest.secrets):
            # AWS API endpoints have no fixed addresses; HTTPS out is the narrowest rule that reaches them.
            egress.append(
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=443)]
                )
            )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol",
            metadata=kube.metadata(manifest.name, namespace),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={APP_LABEL: manifest.project}),
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                egress=egress,
            ),
            opts=kube.opts(self),
        )
