"""One stack's engine calls, as the operations make them: the workspace, and what the engine's events say."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pulumi import automation as auto

# The Stack constructor's mode: public as a parameter, not exported by name.
from pulumi.automation._stack import StackInitMode

from appofapps.engine.store import Store
from appofapps.orchestrator.execution.report import Drift, PolicyViolation, StackResult
from appofapps.orchestrator.state.recovery import checkpoint_key
from appofapps.stackrefs import PLACEHOLDER_NOTICE, READS_NOTICE

Result = TypeVar("Result")

# How the engine marks a secret value in events and checkpoints (its "secret signature").
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # noqa: S105 - a marker, not a secret


class StackWorkspace(auto.LocalWorkspace):
    """A LocalWorkspace that skips two engine calls per stack the orchestrator never needs.

    * ``select_stack``: every Automation API command names its stack with ``--stack`` anyway, so selecting an
      existing stack only costs a CLI start; in a self-managed backend its checkpoint says that it exists.
    * ``stack_outputs``: ``up`` reads the outputs twice, once with ``--show-secrets``. The orchestrator never
      reads outputs, and not decrypting secrets it does not need is the point of ``show_secrets=False``.
    """

    def __init__(self, *, state: Store | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state

    def select_stack(self, stack_name: str) -> None:
        if (
            self.state is not None
            and stack_name.count("/") == 2
            and checkpoint_key(self.state, stack_name) is not None
        ):
            return
        super().select_stack(stack_name)

    def stack_outputs(self, stack_name: str) -> auto.OutputMap:
        return {}


class EngineStack(auto.Stack):
    """A stack whose up, refresh and destroy start no ``stack history`` on a self-managed backend.

    After each of them the Automation API reads the stack's newest history entry for the result's summary: one more
    CLI start per stack (~0.2 s). The orchestrator takes the resource changes from the operation's own summary
    event instead (:meth:`EngineEvents.changes`). What else that entry holds is the update's number, and a
    directory or bucket backend numbers no update: its history says version 0 for every one
    (``test_a_self_managed_backend_numbers_no_update`` holds the pinned engine to that).
    """

    _operating: str | None = None
    """The operation running now (``update``, ``refresh``, ``destroy``), whose summary :meth:`info` gives."""
    _preview_first = False
    """The running `up` keeps the engine's own preview (see :meth:`up`)."""

    @classmethod
    def select(cls, stack_name: str, workspace: auto.Workspace) -> EngineStack:
        return cls(stack_name, workspace, StackInitMode.SELECT)

    @classmethod
    def create(cls, stack_name: str, workspace: auto.Workspace) -> EngineStack:
        return cls(stack_name, workspace, StackInitMode.CREATE)

    def up(self, *args: Any, preview_first: bool = False, **kwargs: Any) -> auto.UpResult:
        """``preview_first``: the engine previews (policy packs included) before it updates, and a failed
        preview ends the command before the update begins (the Automation API always skips that preview)."""
        self._preview_first = preview_first
        try:
            return self._operation("update", super().up, args, kwargs)
        finally:
            self._preview_first = False

    def _run_pulumi_cmd_sync(
        self, args: list[str], on_output: auto.OnOutput | None = None, on_error: auto.OnOutput | None = None
    ) -> auto.CommandResult:
        if self._preview_first and args[:1] == ["up"]:
            args = [arg for arg in args if arg != "--skip-preview"]
        return super()._run_pulumi_cmd_sync(args, on_output, on_error)

    def refresh(self, *args: Any, **kwargs: Any) -> auto.RefreshResult:
        return self._operation("refresh", super().refresh, args, kwargs)

    def destroy(self, *args: Any, **kwargs: Any) -> auto.DestroyResult:
        return self._operation("destroy", super().destroy, args, kwargs)

    def _operation(
        self, kind: str, run: Callable[..., Result], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Result:
        self._operating = kind
        try:
            return run(*args, **kwargs)
        finally:
            self._operating = None

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        workspace = self.workspace
        # Called by the Automation API only once the operation's command succeeded.
        if not (self._operating and isinstance(workspace, StackWorkspace) and workspace.state is not None):
            return super().info(show_secrets)
        now = dt.datetime.now(dt.UTC)
        return auto.UpdateSummary(
            kind=self._operating,
            start_time=now,
            message="",
            environment={},
            config={},
            result="succeeded",
            version=0,
        )


@dataclass
class EngineEvents:
    """What one attempt's engine events said: progress counts and policy violations go to the stack's result
    as they arrive; drift, the upstream outputs the program read and the stack's outputs are kept here."""

    result: StackResult
    track_drift: bool = False
    drift: list[Drift] = field(default_factory=list)
    reads: dict[str, set[str]] = field(default_factory=dict)
    """Upstream stack -> output keys the program reported reading through Upstream."""
    stack_outputs: list[Mapping[str, Any]] = field(default_factory=list)
    """The stack's outputs (secrets masked), when the engine reported them."""
    summary: auto.SummaryEvent | None = None
    """The newest engine operation's summary (a deploy's preview has one too, before its update's)."""
    phases: int = 0
    """Operations the engine began (one prelude each): 2 once an `up` that previews first begins its update."""

    def __call__(self, event: auto.EngineEvent) -> None:
        result = self.result
        if event.prelude_event is not None:
            self.phases += 1
            # Count the update's resources, not its preview's again.
            result.resources_planned = result.resources_done = 0
        if event.summary_event is not None:
            self.summary = event.summary_event
        if event.policy_event is not None:
            result.record_violation(PolicyViolation.from_event(event.policy_event))
        pre = event.resource_pre_event
        if pre is not None and pre.metadata.type != "pulumi:pulumi:Stack":
            result.resources_planned += 1
        outputs = event.res_outputs_event
        if outputs is not None and outputs.metadata.type == "pulumi:pulumi:Stack" and outputs.metadata.new:
            self.stack_outputs[:] = [outputs.metadata.new.outputs or {}]
        if outputs is not None and outputs.metadata.type != "pulumi:pulumi:Stack":
            result.resources_done += 1
            if self.track_drift:
                found = drift_of(outputs.metadata)
                if found is not None:
                    self.drift.append(found)
        diagnostic = event.diagnostic_event
        if diagnostic is not None and PLACEHOLDER_NOTICE in diagnostic.message:
            stand_in = diagnostic.message.split(PLACEHOLDER_NOTICE, 1)[1].split()[0]
            if stand_in not in result.placeholders:
                result.placeholders.append(stand_in)
        if diagnostic is not None and diagnostic.message.startswith(READS_NOTICE):
            upstream, _, key = diagnostic.message.removeprefix(READS_NOTICE).strip().partition(" ")
            self.reads.setdefault(upstream, set()).add(key)

    @property
    def updating(self) -> bool:
        """Whether an `up` that previewed first got past its preview (and so may have changed something)."""
        return self.phases > 1

    def changes(self, summary: auto.UpdateSummary) -> dict[str, int]:
        """Resource changes of the operation that just ended: its summary event's, else its history entry's."""
        counts = self.summary.resource_changes if self.summary is not None else summary.resource_changes
        return changes(counts)

    def engine_args(self, write: Callable[[str], None]) -> dict[str, Any]:
        """The arguments every engine command of the attempt takes: its log, and these events."""
        return {"on_output": write, "on_error": write, "on_event": self, "color": "never"}


def rendered_resources(deployment: Mapping[str, Any] | None) -> list[str]:
    """URNs of resources managed through a Kubernetes provider that renders manifests instead of applying them.

    Refresh asks each provider to read the live object; a rendering provider has no cluster to read from, so these
    resources are excluded from refresh and reported as such.
    """
    resources: list[dict[str, Any]] = (deployment or {}).get("resources") or []
    renderers = {
        f"{r['urn']}::{r.get('id', '')}"
        for r in resources
        if r.get("type") == "pulumi:providers:kubernetes"
        and (r.get("inputs") or {}).get("renderYamlToDirectory")
    }
    return [r["urn"] for r in resources if r.get("custom") and r.get("provider") in renderers]


def is_masked_secret(value: Any) -> bool:
    if isinstance(value, Mapping):
        return SECRET_SIGNATURE in value or any(is_masked_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(is_masked_secret(v) for v in value)
    return False


def changes(counts: Mapping[Any, int] | None) -> dict[str, int]:
    # The SDK keys counts by an OpType enum (a str subclass); the report wants plain names.
    return {str(getattr(op, "value", op)): int(n) for op, n in (counts or {}).items()}


def _changed_keys(metadata: auto.StepEventMetadata) -> list[str]:
    """Names of the outputs that differ between the old and new state (values are compared, never kept)."""
    old = (metadata.old.outputs if metadata.old else None) or {}
    new = (metadata.new.outputs if metadata.new else None) or {}
    return sorted(
        key for key in set(old) | set(new) if not key.startswith("__") and old.get(key) != new.get(key)
    )


def drift_of(metadata: auto.StepEventMetadata) -> Drift | None:
    op = str(getattr(metadata.op, "value", metadata.op))
    if op in ("same", "read", "create"):
        return None
    if op == "delete" or (op == "refresh" and metadata.new is None):
        return Drift(metadata.urn, "delete")
    # Providers that name the differing properties say so in `diffs`; others leave it to the states.
    keys = sorted(metadata.diffs or metadata.keys or []) or _changed_keys(metadata)
    if op == "refresh" and not keys:
        return None
    return Drift(metadata.urn, "update", keys)
