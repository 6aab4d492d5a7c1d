"""Benchmark the orchestrator side by side with what it replaces, in one run, and print ratios.

1. Overhead: a deploy of a one-stack estate through the orchestrator versus a raw `pulumi up` of the same stack.
2. Parallelism: N independent stacks with P workers versus a sequential loop of raw `pulumi up`, and versus the
   lower bound max(longest stack, total work / P) computed from the sequential timings.
3. Planning: discovery and ordering of a generated 500-project estate (no engine), versus one raw `pulumi up`.
4. Policy: the one-stack deploy of (1) with the estate's policy pack (platform/policy) versus without it.
5. State backend: the same chain of stacks on an S3 bucket (moto's server on 127.0.0.1) versus a directory:
   a forced deploy, and a no-op rerun (every stack up to date), whose engine starts are counted.

Usage: python benchmarks/orchestrator_bench.py [--stacks 6] [--workers 3] [--projects 500] [--repeat 3]
Fixture stacks are tiny (one component, StackReference reads); each run uses its own temporary file backend.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from appofapps.engine.bootstrap import Engine, bootstrap
from appofapps.orchestrator import Operation, RunOptions, Selection, plan, run
from appofapps.orchestrator.execution.progress import PlainProgress

PASSPHRASE = "benchmark-only-not-a-secret"  # noqa: S105 - protects throwaway benchmark state
PROGRAM = """import time

import pulumi

# Stand-in for a cloud API's latency: real stacks mostly wait on the network, not on this machine's CPUs.
time.sleep(float(pulumi.Config().get("latency") or 0))


class Thing(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("bench:index:Thing", name, None, None)
        self.register_outputs({})


Thing("thing")
pulumi.export("value", pulumi.get_project())
"""


def write_project(
    root: Path, name: str, *, deps: list[str] | None = None, program: str = PROGRAM, latency: float = 0.0
) -> Path:
    path = root / name
    path.mkdir(parents=True)
    settings = {"name": name, "runtime": {"name": "python", "options": {"virtualenv": sys.prefix}}}
    (path / "Pulumi.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (path / "__main__.py").write_text(program, encoding="utf-8")
    # Never an empty config: this engine build hands a program an empty config as null.
    config = {f"{name}:label": name, f"{name}:latency": str(latency)}
    (path / "Pulumi.bench.yaml").write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    if deps is not None:
        (path / "estate.yaml").write_text(yaml.safe_dump({"depends_on": deps}), encoding="utf-8")
    return path


def environment(engine: Engine, state: Path) -> dict[str, str]:
    state.mkdir(parents=True, exist_ok=True)
    env = engine.env()
    env["PULUMI_BACKEND_URL"] = state.as_uri()
    env["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    return env


def raw_up(engine: Engine, env: dict[str, str], project: Path) -> float:
    """Seconds for `pulumi stack select --create` + `pulumi up` of one stack, as a shell loop runs them."""
    stack = f"organization/{project.name}/bench"
    started = time.perf_counter()
    for args in (
        ["stack", "select", "--create", stack],
        ["up", "--yes", "--skip-preview", "--stack", stack],
    ):
        subprocess.run(
            [str(engine.pulumi), *args, "--non-interactive"],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - started


POLICY_PACK = Path(__file__).resolve().parents[1] / "platform" / "policy"


def orchestrated(
    engine: Engine,
    env: dict[str, str],
    root: Path,
    workers: int,
    *,
    policy: bool = False,
    force: bool = True,
    starts: list[int] | None = None,
) -> float:
    started = time.perf_counter()
    packs = [str(POLICY_PACK)] if policy else []
    report = run(
        root,
        "bench",
        RunOptions(
            operation=Operation.DEPLOY, workers=workers, force=force, handle_signals=False, policy_packs=packs
        ),
        Selection(),
        engine=engine,
        base_env=env,
        progress=PlainProgress(io.StringIO()),
    )
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"benchmark deploy failed: {report.counts()} (see {root / '.reports'})")
    if starts is not None:
        starts.append(report.engine_starts)
    return elapsed


@contextlib.contextmanager
def s3_server(engine: Engine) -> Iterator[dict[str, str]]:
    """moto's S3 server on 127.0.0.1 with one bucket; yields the variables a run needs to use it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    credentials = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("moto_server did not start") from None
                time.sleep(0.1)
        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",  # noqa: S106
        ).create_bucket(Bucket="bench-state")
        url = f"s3://bench-state?endpoint={endpoint}&use_path_style=true&disable_https=true&region=us-east-1"
        os.environ.update(credentials)  # the orchestrator's own bucket client reads them here
        yield {
            **engine.env(),
            **credentials,
            "PULUMI_BACKEND_URL": url,
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def measure(label: str, repeat: int, once: Callable[[], float]) -> float:
    samples = [once() for _ in range(repeat)]
    value = median(samples)
    print(f"  {label:<58} {value:8.2f}s  (median of {repeat})", flush=True)
    return value


def generate_estate(root: Path, projects: int, *, seed: int = 7) -> None:
    """Projects in layers of 50; each reads up to three projects of earlier layers by StackReference."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible shape, not security
    names: list[str] = []
    for index in range(projects):
        layer_start = (index // 50) * 50
        deps = sorted(set(rng.sample(names[:layer_start], min(3, layer_start)))) if layer_start else []
        name = f"p{index:03d}"
        refs = "".join(
            f'pulumi.StackReference(f"organization/{dep}/{{pulumi.get_stack()}}")\n' for dep in deps
        )
        write_project(root, name, deps=deps, program="import pulumi\n\n" + refs)
        names.append(name)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stacks", type=int, default=6, help="independent stacks (N)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="orchestrator workers (P)")
    parser.add_argument("--projects", type=int, default=500, help="projects in the generated estate")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the single-stack comparison")
    parser.add_argument(
        "--latency", type=float, default=3.0, help="seconds each stack waits, like a cloud API"
    )
    args = parser.parse_args()
    engine = bootstrap()
    print(f"engine {engine.pulumi_version} ({engine.bin_dir}); {os.cpu_count()} CPUs\n")

    with tempfile.TemporaryDirectory(prefix="appofapps-bench-") as tmp:
        base = Path(tmp)

        print("1. orchestration overhead on one stack (both update an existing stack with no changes)")
        single = base / "single"
        project = write_project(single, "solo")
        env = environment(engine, base / "state-single")
        raw_up(engine, env, project)  # create it once so both sides measure the same no-op update
        raw = measure(
            "raw `pulumi stack select` + `pulumi up`", args.repeat, lambda: raw_up(engine, env, project)
        )
        orch = measure(
            "orchestrator deploy --force (lock, discovery, report)",
            args.repeat,
            lambda: orchestrated(engine, env, single, 1),
        )

        guarded = measure(
            "orchestrator deploy --force with the estate's policy pack",
            args.repeat,
            lambda: orchestrated(engine, env, single, 1, policy=True),
        )

        print(
            f"\n2. {args.stacks} independent stacks ({args.latency:.0f}s simulated cloud latency each), "
            f"sequential loop vs orchestrator with P={args.workers}"
        )
        many = base / "many"
        projects = [write_project(many, f"leaf{i}", latency=args.latency) for i in range(args.stacks)]
        env_seq = environment(engine, base / "state-seq")
        per_stack = [raw_up(engine, env_seq, p) for p in projects]
        sequential = sum(per_stack)
        print(f"  {'sequential loop of raw `pulumi up` (create)':<58} {sequential:8.2f}s")
        env_par = environment(engine, base / "state-par")
        parallel = orchestrated(engine, env_par, many, args.workers)
        print(f"  {f'orchestrator, P={args.workers} (create)':<58} {parallel:8.2f}s")
        bound = max(max(per_stack), sequential / args.workers)
        print(f"  {'critical-path bound max(longest, total/P)':<58} {bound:8.2f}s")

        print(
            f"\n3. planning a generated {args.projects}-project estate (discovery, inference, levels; no engine)"
        )
        big = base / "big"
        generate_estate(big, args.projects)
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            planned = plan(big, "bench")
            levels = planned.levels()
            samples.append(time.perf_counter() - started)
        plan_time = median(samples)
        print(f"  {'plan':<58} {plan_time:8.2f}s  ({len(levels)} levels, median of 3)")

        chain_length = 4
        print(f"\n5. state backend: a chain of {chain_length} stacks on S3 over loopback vs a directory")
        chained = base / "chained"
        previous: list[str] = []
        for index in range(chain_length):
            refs = "".join(
                f'pulumi.StackReference(f"organization/{dep}/{{pulumi.get_stack()}}")\n' for dep in previous
            )
            write_project(chained, f"c{index}", deps=previous, program=PROGRAM + refs)
            previous = [f"c{index}"]
        file_env = environment(engine, base / "state-chain")
        with s3_server(engine) as bucket_env:
            timings: dict[str, dict[str, float]] = {}
            noop_starts: dict[str, list[int]] = {"file": [], "s3": []}
            for label, env_ in (("file", file_env), ("s3", bucket_env)):
                orchestrated(engine, env_, chained, 1)  # create the stacks and their records
                timings[label] = {
                    "forced": measure(
                        f"{label}: deploy --force",
                        args.repeat,
                        lambda e=env_: orchestrated(engine, e, chained, 1),
                    ),
                    "noop": measure(
                        f"{label}: no-op rerun (every stack up to date)",
                        args.repeat,
                        lambda e=env_, key=label: orchestrated(
                            engine, e, chained, 1, force=False, starts=noop_starts[key]
                        ),
                    ),
                }

    print("\nratios")
    print(
        f"  orchestrator / raw pulumi up, one stack:           {orch / raw:6.2f}x  ({orch - raw:+.2f}s per run)"
    )
    print(
        f"  sequential loop / orchestrator, N={args.stacks} P={args.workers}:          {sequential / parallel:6.2f}x speed-up"
    )
    print(f"  orchestrator / critical-path bound:                 {parallel / bound:6.2f}x  (1.00 = perfect)")
    print(f"  plan of {args.projects} projects / one raw pulumi up:         {plan_time / raw:6.2f}x")
    print(
        f"  with policy pack / without, one stack:             {guarded / orch:6.2f}x  ({guarded - orch:+.2f}s per stack)"
    )
    print(f"  plan per project:                                   {1000 * plan_time / args.projects:6.2f} ms")
    for kind in ("forced", "noop"):
        extra = (timings["s3"][kind] - timings["file"][kind]) / chain_length
        print(
            f"  S3 / file backend, {kind + ' run':<11} per stack:        "
            f"{timings['s3'][kind] / timings['file'][kind]:6.2f}x  ({extra:+.3f}s per stack)"
        )
    print(
        f"  engine starts of a no-op rerun on S3:               {max(noop_starts['s3'])}"
        f" (file: {max(noop_starts['file'])})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
