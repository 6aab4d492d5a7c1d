"""The four operations, one class each: what one attempt at one stack does (see :class:`.StackOperation`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi.automation import errors as auto_errors

from appofapps.orchestrator.execution.cascade import StaleCascade
from appofapps.orchestrator.execution.engine_errors import summarize
from appofapps.orchestrator.execution.operation import StackOperation, StackRun
from appofapps.orchestrator.execution.options import Operation
from appofapps.orchestrator.execution.report import RunReport, Status
from appofapps.orchestrator.execution.retry import Failure
from appofapps.orchestrator.execution.stack_engine import changes, rendered_resources
from appofapps.orchestrator.planning.errors import OrchestratorError
from appofapps.orchestrator.planning.gitinfo import Checkout
from appofapps.orchestrator.planning.graph import StackGraph
from appofapps.orchestrator.state.recovery import checkpoint_token


class Deploy(StackOperation):
    """``up`` each stack whose fingerprint or checkpoint changed; record what it deployed."""

    kind = Operation.DEPLOY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._checkout: Checkout | None = None
        self._stopped_before_change: set[str] = set()
        """Stacks whose policy preview failed: the engine never began their update."""
        self.cascade = StaleCascade(self.ctx, self.records, self.stop)

    def before_run(self) -> None:
        self._checkout = Checkout.of(self.ctx.root)

    def after_run(self, report: RunReport, schedule: Callable[[StackGraph, set[str]], None]) -> None:
        self.cascade.run(report, schedule)

    def nothing_changed(self, name: str) -> bool:
        return name in self._stopped_before_change

    def attempt(self, stack: StackRun) -> None:
        result = stack.result
        print_, deps = self.fingerprints.of(stack.project)
        # Most reruns change little: an up-to-date stack is settled from the records and the checkpoint,
        # before any workspace or engine is started.
        cascaded = self.cascade.why(stack.name)
        if cascaded is not None:
            result.reason = f"--cascade: {cascaded}"
            fresh: bool | None = False
        else:
            fresh = self.fingerprints.up_to_date(stack.project, result, print_)
        if fresh:
            return
        opened = self.open(stack, create=True)
        if opened is None:
            return
        selected, events = opened
        if stack.created:
            print_, deps = self.fingerprints.of(stack.project)  # the record is of the stack file as deployed
        record = self.records.get(stack.name)
        if fresh is None and record is not None:
            last = selected.info(show_secrets=False)
            if last is not None and last.result == "succeeded" and last.version == record.version:
                result.status = Status.UP_TO_DATE
                result.reason = "unchanged since its last deploy"
                return
        common = events.engine_args(stack.write)
        # Resource policies run as each resource is created, stack policies after all are: only a preview can
        # block a violating stack before anything changes. The engine's own preview inside `up` does, in the same
        # CLI process: a failed preview ends the command before its update begins.
        guarded = bool(self.ctx.options.policy_packs)
        drifted = self.fingerprints.drifted(stack.name)
        try:
            up = selected.up(
                preview_first=guarded,
                show_secrets=False,
                suppress_outputs=True,
                message=self.ctx.options.message,
                # Read the drifted objects first, so the update sees them as they are and puts them back.
                refresh=True if drifted else None,
                **self.policy(),
                **common,
            )
        except auto_errors.CommandError:
            if guarded and not events.updating:
                self._stopped_before_change.add(stack.name)
            raise
        result.changes = events.changes(up.summary)
        # What this stack read, as recorded at each upstream's own last deploy: the keys its program reported
        # reading through Upstream, or all of the upstream's outputs when it reads them some other way.
        consumed = {}
        for dep, dep_record in deps.items():
            if dep_record is not None:
                keys = events.reads.get(self.ctx.full_graph.stack(dep))
                outputs = dep_record.outputs
                consumed[dep] = {k: v for k, v in outputs.items() if k in keys} if keys else dict(outputs)
        state = self.ctx.state
        self.records.put(
            stack.name,
            print_,
            up.summary.version,
            checkout=self._checkout,
            outputs=self.fingerprints.outputs(stack.project, result.stack, events.stack_outputs),
            consumed=consumed,
            checkpoint=checkpoint_token(state, result.stack) if state is not None else None,
        )
        if drifted:
            self.refreshes.drop(stack.name)
        result.status = Status.DONE


class Preview(StackOperation):
    """What a deploy would change; upstreams never deployed stand in as placeholders."""

    kind = Operation.PREVIEW

    def nothing_changed(self, name: str) -> bool:
        return True

    def attempt(self, stack: StackRun) -> None:
        opened = self.open(stack, create=True, placeholders=self._never_deployed_upstreams(stack.name))
        if opened is None:
            return
        selected, events = opened
        preview = selected.preview(**self.policy(), **events.engine_args(stack.write))
        stack.result.changes = changes(preview.change_summary)
        stack.result.status = Status.DONE

    def _never_deployed_upstreams(self, name: str) -> list[str]:
        """Stack names of this project's upstreams with no state yet: a preview may run on their placeholders."""
        graph = self.ctx.full_graph
        return [graph.stack(dep) for dep in sorted(graph.deps.get(name, set())) if not self.deployed(dep)]

    def failed(self, stack: StackRun, failure: Failure, text: str) -> None:
        super().failed(stack, failure, text)
        result, ctx = stack.result, self.ctx
        if any(v.mandatory for v in result.policy_violations):
            return
        missing = [dep for dep in sorted(ctx.graph.deps[stack.name]) if not self.deployed(dep)]
        if missing:
            result.status = Status.UNRESOLVED
            stacks = ", ".join(ctx.graph.stack(dep) for dep in missing)
            engine_said = summarize(text).splitlines()[-1:]
            result.reason = (
                f"cannot preview: it reads upstream stack(s) never deployed in {ctx.environment}: "
                f"{stacks}. Deploy them first (appofapps deploy --env {ctx.environment} "
                f"--only {' --only '.join(missing)} --with-dependencies), then preview again."
                + (f" Engine: {engine_said[0]}" if engine_said else "")
            )


class Refresh(StackOperation):
    """Compare each stack's state with its cloud; report the drift, or with --apply write it into state."""

    kind = Operation.REFRESH

    def blockers(self, graph: StackGraph) -> dict[str, set[str]]:
        # A refresh compares one stack's state with its cloud; no stack needs another's refresh first.
        return {name: set() for name in graph.deps}

    def downstream(self, graph: StackGraph, name: str) -> set[str]:
        return set()

    def attempt(self, stack: StackRun) -> None:
        opened = self.open(stack, create=False, track_drift=True)
        if opened is None:
            return
        selected, events = opened
        result, apply = stack.result, self.ctx.options.apply_refresh
        common = events.engine_args(stack.write)
        rendered = rendered_resources(selected.export_stack().deployment)
        scope: dict[str, Any] = {"exclude": rendered} if rendered else {}
        if apply:
            refreshed = selected.refresh(
                show_secrets=False, message=self.ctx.options.message, **scope, **common
            )
            result.changes = events.changes(refreshed.summary)
        else:
            previewed = selected.preview_refresh(**scope, **common)
            result.changes = changes(previewed.change_summary)
        result.drift = events.drift
        drifted = sum(v for k, v in result.changes.items() if k not in ("same", "read"))
        result.status = Status.DONE
        self.refreshes.put(
            result.project,
            drifted_resources=max(drifted, len(events.drift)),
            drifted=bool(drifted or events.drift),
            applied=apply,
            not_compared=len(rendered),
        )
        if drifted or events.drift:
            action = "refreshed into state" if apply else "not changed; --apply to accept it"
            result.reason = f"drifted ({action})"
        if rendered:
            note = f"{len(rendered)} rendered Kubernetes objects not refreshed (no live cluster behind them)"
            result.reason = f"{result.reason}; {note}" if result.reason else note


class Destroy(StackOperation):
    """Destroy each stack's resources, dependents first; then remove the emptied stack from the backend."""

    kind = Operation.DESTROY
    after_failure = "depended on by"

    def blockers(self, graph: StackGraph) -> dict[str, set[str]]:
        return graph.dependents()

    def downstream(self, graph: StackGraph, name: str) -> set[str]:
        return graph.closure([name], upwards=True) - {name}

    def before_run(self) -> None:
        """A filtered destroy must not pull a stack out from under deployed stacks that read it."""
        selected, full = set(self.ctx.graph.deps), self.ctx.full_graph
        outside = sorted(full.closure(selected, upwards=False) - selected)
        deployed = [name for name in outside if self.deployed(name)]
        if deployed:
            stacks = ", ".join(full.stack(name) for name in deployed)
            raise OrchestratorError(
                f"refusing to destroy {', '.join(sorted(selected))}: deployed stack(s) outside the selection "
                f"read from it: {stacks}. Add --with-dependents to destroy them first, in reverse order."
            )

    def attempt(self, stack: StackRun) -> None:
        opened = self.open(stack, create=False)
        if opened is None:
            return
        selected, events = opened
        result = stack.result
        destroyed = selected.destroy(
            show_secrets=False, message=self.ctx.options.message, **events.engine_args(stack.write)
        )
        result.changes = events.changes(destroyed.summary)
        if not self.ctx.options.keep_stacks:
            # preserve_config: the stack file is source code; only the backend's record goes.
            selected.workspace.remove_stack(result.stack, preserve_config=True)
        self.records.drop(stack.name)
        self.refreshes.drop(stack.name)
        result.status = Status.DONE


OPERATIONS: dict[Operation, type[StackOperation]] = {
    op.kind: op for op in (Deploy, Preview, Refresh, Destroy)
}
