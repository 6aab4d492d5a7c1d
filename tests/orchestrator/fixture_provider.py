"""A resource provider plugin for fault tests: real gRPC, served to the real engine, holding nothing real.

The engine starts it like any provider (``pulumi-resource-<package>``, found through the fixture project's
``plugins.providers`` in ``Pulumi.yaml``), so the package name is the launcher's to choose: ``fixture`` for
fault tests, ``aws`` to put resources under AWS type tokens in front of the policy pack. Resources are kept
in the engine's state only. Their inputs may carry instructions, which are never part of any diff:

* ``__createSeconds``: ``create`` takes this long, unless the engine cancels the operation first (its ``Cancel``
  call). Either way the resource's ``__journal`` file gets one JSON line per event: creating, then created, or
  cancel requested and cancelled.
* ``__failures``: ``{"count": <file>, "times": n, "message": text}``: the first ``n`` creates (counted across
  processes in ``count``) fail with ``message``, as a cloud API's refusal reaches a provider, then they succeed.

Unlike a dynamic provider (whose errors always carry a Python traceback, which the orchestrator rightly reads as
a program error), a failure here reaches the engine as a provider's plain error message.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

VERSION = "0.0.1"
CONTROL = "__"  # prefix of the instruction inputs


def _props(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def _journal(props: dict[str, Any], event: str, **details: Any) -> None:
    path = props.get("__journal")
    if path:
        line = json.dumps({"event": event, "at": time.time(), **details})
        with Path(path).open("a", encoding="utf-8") as journal:
            journal.write(line + "\n")


class FixtureProvider(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._in_flight: dict[str, dict[str, Any]] = {}
        self._guard = threading.Lock()

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=VERSION)

    def CheckConfig(self, request: Any, context: Any) -> Any:
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request: Any, context: Any) -> Any:
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(self, request: Any, context: Any) -> Any:
        return provider_pb2.ConfigureResponse(acceptSecrets=True, supportsPreview=False)

    def Check(self, request: Any, context: Any) -> Any:
        return provider_pb2.CheckResponse(inputs=request.news)

    def Diff(self, request: Any, context: Any) -> Any:
        olds, news = _props(request.olds), _props(request.news)
        changed = sorted(
            key
            for key in set(olds) | set(news)
            if not key.startswith(CONTROL) and olds.get(key) != news.get(key)
        )
        if not changed:
            return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_SOME, diffs=changed)

    def Create(self, request: Any, context: Any) -> Any:
        props = _props(request.properties)
        name = request.urn.rsplit("::", 1)[-1]
        failures = props.get("__failures")
        if failures:
            count = Path(failures["count"])
            failed = int(count.read_text(encoding="utf-8")) if count.exists() else 0
            if failed < int(failures["times"]):
                count.write_text(str(failed + 1), encoding="utf-8")
                context.abort(grpc.StatusCode.UNKNOWN, f"creating {name}: {failures['message']}")
        seconds = float(props.get("__createSeconds") or 0)
        _journal(props, "creating", urn=request.urn)
        with self._guard:
            self._in_flight[request.urn] = props
        try:
            if self._cancelled.wait(seconds):
                _journal(props, "cancelled", urn=request.urn)
                context.abort(grpc.StatusCode.UNKNOWN, f"creating {name}: cancelled by the engine")
        finally:
            with self._guard:
                self._in_flight.pop(request.urn, None)
        _journal(props, "created", urn=request.urn)
        return provider_pb2.CreateResponse(id=name, properties=request.properties)

    def Read(self, request: Any, context: Any) -> Any:
        return provider_pb2.ReadResponse(id=request.id, properties=request.properties, inputs=request.inputs)

    def Update(self, request: Any, context: Any) -> Any:
        return provider_pb2.UpdateResponse(properties=request.news)

    def Delete(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    def Cancel(self, request: Any, context: Any) -> Any:
        # The engine's graceful stop: operations in flight should end soon, and none should start.
        with self._guard:
            in_flight = list(self._in_flight.values())
        for props in in_flight:
            _journal(props, "cancel requested")
        self._cancelled.set()
        return empty_pb2.Empty()


def serve() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(FixtureProvider(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")  # how a plugin tells the engine where to connect
    sys.stdout.flush()
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:  # the engine closes its plugins with SIGINT
        server.stop(0)


if __name__ == "__main__":
    serve()
