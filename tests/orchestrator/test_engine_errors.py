"""A failed stack's reason names the failed resource and its cause, not the program's shutdown noise."""

from __future__ import annotations

from appofapps.orchestrator.execution.engine_errors import summarize
from appofapps.orchestrator.execution.retry import Failure, RetryPolicy, classify

# The tail of a real `pulumi up` whose Deployment never became ready (a quota refused its pods); the Python
# program's traceback, raised when the engine stopped it, is part of it.
ROLLOUT_TIMED_OUT = """\
 +  kubernetes:apps/v1:Deployment payments-api-deployment creating (40s) error: 3 errors occurred:
 +  pulumi:pulumi:Stack payments-api-local creating (42s) error: update failed
 +  pulumi:pulumi:Stack payments-api-local creating (42s) error: Resource monitor has terminated, shutting down
Diagnostics:
  pulumi:pulumi:Stack (payments-api-local):
    error: update failed
    error: Resource monitor has terminated, shutting down
    Traceback (most recent call last):
        log.debug(traceback.format_exc())

  kubernetes:apps/v1:Deployment (payments-api-deployment):
    error: 3 errors occurred:
    \t* resource "urn:pulumi:local::payments-api::appofapps:app:App$kubernetes:apps/v1:Deployment::payments-api-deployment" was successfully created, but the Kubernetes API server reported that it failed to fully initialize or become live: 'api' timed out waiting to be Ready
    \t* [MinimumReplicasUnavailable] Deployment does not have minimum availability.
    \t* Minimum number of live Pods was not attained

Resources:
    + 8 created
    2 errored
"""

# A Python program's own failure: no resource said anything, so its last error lines are the reason.
PROGRAM_FAILED = """\
Diagnostics:
  pulumi:pulumi:Stack (payments-api-local):
    error: Program failed with an unhandled exception:
    error: payments-api/local needs a namespace for team 'payments' from platform-cluster output 'namespaces'
"""


def test_the_failed_resource_and_its_bullets_come_before_the_programs_shutdown_noise() -> None:
    reason = summarize(ROLLOUT_TIMED_OUT, limit=4).splitlines()
    assert reason[0].startswith("payments-api-deployment: resource ")
    assert "'api' timed out waiting to be Ready" in reason[0]
    assert (
        reason[1]
        == "payments-api-deployment: [MinimumReplicasUnavailable] Deployment does not have minimum availability."
    )
    assert not any("Resource monitor has terminated" in line or "errors occurred" in line for line in reason)


def test_without_a_resource_error_the_last_error_lines_stay_the_reason() -> None:
    assert summarize(PROGRAM_FAILED, limit=4).splitlines()[-1] == (
        "payments-api/local needs a namespace for team 'payments' from platform-cluster output 'namespaces'"
    )


def test_a_rollout_that_never_became_ready_is_not_retried() -> None:
    failure = classify(ROLLOUT_TIMED_OUT)
    assert failure is Failure.NOT_READY
    assert not RetryPolicy().should_retry(failure, 1)
    # A dropped connection is still transient.
    assert classify("error: read tcp 127.0.0.1:6443: connection reset by peer") is Failure.TRANSIENT


# The API server killed mid-deploy: every resource in flight says so, and the Python program raises after.
SERVER_GONE = """\
Diagnostics:
  kubernetes:core/v1:ResourceQuota (tenancy-payments-quota):
    error: resource "urn:pulumi:local::platform-cluster::appofapps:tenancy:Tenancy$kubernetes:core/v1:ResourceQuota::tenancy-payments-quota" was not successfully created by the Kubernetes API server: Patch "https://127.0.0.1:52949/api/v1/namespaces/payments/resourcequotas/team-quota": read tcp 127.0.0.1:45318->127.0.0.1:52949: read: connection reset by peer

  pulumi:pulumi:Stack (platform-cluster-local):
    error: update failed

    Traceback (most recent call last):
    grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:
    \tdetails = "resource monitor shut down while waiting on step's done channel"
"""


def test_a_dropped_connection_is_transient_even_when_the_program_raised_after_it() -> None:
    assert classify(SERVER_GONE) is Failure.TRANSIENT
    assert summarize(SERVER_GONE, limit=4).startswith("tenancy-payments-quota: resource ")
    # With no resource error, a traceback is the program's own failure, never retried.
    assert classify(PROGRAM_FAILED + "    Traceback (most recent call last):\n") is Failure.PROGRAM


# The same kill, at another moment: the Kubernetes provider itself panicked on the lost server (4.25.0).
PROVIDER_CRASHED = """\
Diagnostics:
  pulumi:pulumi:Stack (platform-cluster-local):
    error: update failed

    error: Detected that /root/.pulumi/plugins/resource-kubernetes-v4.25.0/pulumi-resource-kubernetes exited prematurely.
           To assist with debugging we have dumped the STDOUT and STDERR streams of the plugin:
    panic: runtime error: invalid memory address or nil pointer dereference
    error: Program failed with an unhandled exception:

  kubernetes:core/v1:ResourceQuota (tenancy-storefront-quota):
    error: error reading from server: EOF
"""


def test_a_provider_that_crashed_is_named_before_the_resources_it_failed() -> None:
    assert summarize(PROVIDER_CRASHED).splitlines() == [
        "Detected that /root/.pulumi/plugins/resource-kubernetes-v4.25.0/pulumi-resource-kubernetes exited prematurely.",
        "tenancy-storefront-quota: error reading from server: EOF",
    ]
