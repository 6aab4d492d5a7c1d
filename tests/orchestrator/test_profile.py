"""`--profile` parts without the engine: span parsing keeps no request payload, the phases a trace yields, and
the span pipe is a FIFO read in memory."""

from __future__ import annotations

import json
import stat
import threading

from appofapps.orchestrator.execution.profile import Span, SpanPipe, command_of, parse_spans, phases_of

SECRET = "plaintext-canary-in-a-grpc-request"  # noqa: S105 - a canary, not a secret


def otlp_line(service: str, *spans: dict) -> str:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [{"scope": {}, "spans": list(spans)}],
                }
            ]
        }
    )


def span(name: str, start: float, end: float, **attributes: str) -> dict:
    return {
        "name": name,
        "startTimeUnixNano": str(int(start * 1e9)),
        "endTimeUnixNano": str(int(end * 1e9)),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }


def test_parsing_keeps_the_cli_spans_names_times_and_plugin_kinds_and_nothing_else() -> None:
    line = otlp_line(
        "pulumi-cli",
        span("pulumirpc.ResourceProvider/Create", 1.0, 1.5, Msg=json.dumps({"gRPC request": SECRET})),
        span("newPlugin", 2.0, 2.25, kind="analyzer", bin="/some/pack"),
    )
    provider_side = otlp_line(
        "pulumi-resource-provider", span("/pulumirpc.ResourceProvider/Create", 1.1, 1.4)
    )
    spans = parse_spans(line) + parse_spans(provider_side)
    assert spans == [
        Span("pulumirpc.ResourceProvider/Create", 1.0, 1.5),
        Span("newPlugin", 2.0, 2.25, kind="analyzer"),
    ]
    assert SECRET not in repr(spans)


def test_the_phases_of_one_engine_operation() -> None:
    spans = [
        Span("pulumi", 0.0, 3.0),
        Span("pulumirpc.LanguageRuntime/About", 0.1, 0.2),
        Span("pulumirpc.LanguageRuntime/GetRequiredPackages", 0.3, 0.5),
        Span("newPlugin", 0.5, 0.7, kind="analyzer"),
        Span("pulumirpc.Analyzer/Configure", 0.7, 0.71),
        Span("run-program", 0.75, 2.5),
        Span("pulumirpc.ResourceMonitor/GetDeploymentInfo", 1.0, 1.01),
        Span("pulumirpc.Analyzer/Analyze", 1.2, 1.25),
        Span("newPlugin", 1.5, 1.65, kind="resource"),
        Span("newPlugin", 0.01, 0.05, kind="language"),
    ]
    found = {k: round(v, 3) for k, v in phases_of(spans).items()}
    assert found == {"program start": 0.25, "language host": 0.3, "analyzer": 0.26, "provider start": 0.15}


def test_the_span_pipe_is_a_fifo_drained_in_memory_across_reopens_then_removed() -> None:
    pipe = SpanPipe()
    assert stat.S_ISFIFO(pipe.path.stat().st_mode), "spans must never be written to a regular file"
    assert stat.S_IMODE(pipe.path.parent.stat().st_mode) == 0o700

    def engine() -> None:
        # An exporter may open the file once per batch.
        for n in range(2):
            with pipe.path.open("w", encoding="utf-8") as out:
                out.write(otlp_line("pulumi-cli", span(f"batch-{n}", n, n + 0.5)) + "\n")
                out.write("not json\n")

    writer = threading.Thread(target=engine)
    writer.start()
    writer.join(10)
    spans = pipe.close()
    assert sorted(s.name for s in spans) == ["batch-0", "batch-1"]
    assert pipe.unreadable == 2
    assert not pipe.path.parent.exists()


def test_a_pipe_the_engine_never_opened_closes_at_once() -> None:
    pipe = SpanPipe()
    assert pipe.close() == []
    assert not pipe.path.parent.exists()


def test_the_cli_command_of_an_argument_list() -> None:
    assert command_of(["--non-interactive", "up", "--yes", "--stack", "s"]) == "up"
    assert command_of(["stack", "history", "--json", "--stack", "s"]) == "stack history"
    assert command_of(["stack", "init", "org/p/s", "--", "extra"]) == "stack init"
