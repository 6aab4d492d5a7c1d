"""Benchmark the orchestrator side by side with what it replaces, in one run, and print ratios.

1. Overhead: a deploy of a one-stack estate through the orchestrator versus a raw `pulumi up` of the same stack.
2. Parallelism: N independent stacks with P workers versus a sequential loop of raw `pulumi up`, and versus two
   lower bounds computed from the sequential timings: the latency bound max(longest stack, total wall / P) and
   the CPU bound (total CPU time / os.cpu_count(): CPU work cannot run more than that many at a time). The larger
   one applies, and the orchestrator is measured against it.
3. Planning: discovery and ordering of a generated 500-project estate (no engine), against its 0.4 s target.
4. Policy: the one-stack deploy of (1) with the estate's policy pack (platform/policy) versus without it.
5. State backend: the same chain of stacks on an S3 bucket (moto's server on 127.0.0.1) versus a directory:
   a forced deploy, and a no-op rerun (every stack up to date), whose engine starts are counted.
6. Start-up: `appofapps plan --root <this repository> --env local` as a subprocess (median of 5), against its
   0.3 s target, with the interpreter's bytecode cache as this environment has it and with a warm one.
7. No-op redeploy: a generated 20-stack estate, every stack up to date (no engine start), versus a sequential
   loop of raw `pulumi up` over the same 20 unchanged stacks; target at least 20x.
8. deploy-local: this estate from an empty state, rendered (against 30 s) and live, each against raw
   `pulumi preview` + `pulumi up` with the same policy pack summed along its critical path (local_deploy.py).

Usage: python benchmarks/orchestrator_bench.py [--only overhead,parallel,plan,backend,startup,noop,local]
       [--stacks 6] [--workers 3] [--projects 500] [--noop-stacks 20] [--repeat 3]
Sections run in the order above; --only runs some of them (default: all). Fixture stacks are tiny (one
component, StackReference reads); each run uses its own temporary file backend.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml
from local_deploy import LOCAL_TARGET, PATH_TARGET, deploy_local

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


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far, theirs included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


POLICY_PACK = Path(__file__).resolve().parents[1] / "platform" / "policy"


def raw_up(
    engine: Engine,
    env: dict[str, str],
    project: Path,
    cpu: list[float] | None = None,
    *,
    policy: bool = False,
) -> float:
    """Seconds for `pulumi stack select --create` + `pulumi up` of one stack, as a shell loop runs them; the CPU
    seconds they used (the CLI, its language host and the program) are appended to ``cpu``. ``policy``: the
    `up` enforces the estate's pack and previews first, as the orchestrator's guarded deploy does."""
    stack = f"organization/{project.name}/bench"
    cpu_before = children_cpu()
    started = time.perf_counter()
    up = ["up", "--yes", "--policy-pack", str(POLICY_PACK)] if policy else ["up", "--yes", "--skip-preview"]
    for args in (["stack", "select", "--create", stack], [*up, "--stack", stack]):
        subprocess.run(
            [str(engine.pulumi), *args, "--non-interactive"],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
        )
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append(children_cpu() - cpu_before)
    return elapsed


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


REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("overhead", "parallel", "plan", "backend", "startup", "noop", "local")
STARTUP_TARGET = 0.3
"""Seconds: `appofapps plan --root . --env local`, from the shell to its exit."""
PLAN_TARGET = 0.4
"""Seconds: a plan of the generated 500-project estate."""
OVERHEAD_TARGET = 1.10
"""The orchestrator's deploy of one stack / the raw CLI doing the same work."""
POLICY_TARGET = 1.0
"""Seconds the policy pack may add to a deployed stack."""
NOOP_TARGET = 20.0
"""How many times faster than a loop of raw `pulumi up` a no-op redeploy must be."""


def verdict(ok: bool) -> str:
    return "meets the target" if ok else "MISSES the target"


def sections(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"sections are {', '.join(SECTIONS)} (not {', '.join(unknown)})")
    return chosen


def cli_plan_seconds(env: dict[str, str]) -> float:
    """Wall seconds of `appofapps plan --root <repository> --env local` as a subprocess."""
    command = [
        str(Path(sys.executable).with_name("appofapps")),
        "plan",
        "--root",
        str(REPO),
        "--env",
        "local",
    ]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def startup(base: Path, results: dict[str, float]) -> None:
    print("6. `appofapps plan --root . --env local` start-up: the CLI as a subprocess, from exec to exit")
    as_is = dict(os.environ)
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(base / "pycache")  # the repository's tree stays untouched
    cli_plan_seconds(cached)  # fills the cache
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        how = "imports compiled (PYTHONDONTWRITEBYTECODE set)"
    else:
        how = "this environment's bytecode cache"
    results["startup"] = measure(how, 5, lambda: cli_plan_seconds(as_is))
    results["startup_cached"] = measure(
        "warm bytecode cache (any later run of an install)", 5, lambda: cli_plan_seconds(cached)
    )
    for key in ("startup", "startup_cached"):
        results[f"{key}_ok"] = float(results[key] < STARTUP_TARGET)


def noop_redeploy(engine: Engine, base: Path, args: argparse.Namespace, results: dict[str, float]) -> None:
    count = args.noop_stacks
    print(
        f"7. no-op redeploy of a generated {count}-stack estate (every stack up to date) vs a sequential loop of "
        f"raw `pulumi up` over the same {count} unchanged stacks"
    )
    root = base / "noop"
    projects = []
    for index in range(count):
        # Chains of five: each stack after the first of its chain reads the one before it.
        deps = [f"n{index - 1:02d}"] if index % 5 else []
        refs = "".join(
            f'pulumi.StackReference(f"organization/{dep}/{{pulumi.get_stack()}}")\n' for dep in deps
        )
        projects.append(write_project(root, f"n{index:02d}", deps=deps, program=PROGRAM + refs))
    env = environment(engine, base / "state-noop")
    orchestrated(engine, env, root, args.workers)  # create every stack and its record
    starts: list[int] = []
    results["noop"] = measure(
        f"orchestrator deploy, P={args.workers}, nothing changed",
        args.repeat,
        lambda: orchestrated(engine, env, root, args.workers, force=False, starts=starts),
    )
    results["noop_starts"] = max(starts)
    loop = sum(raw_up(engine, env, project) for project in projects)
    results["noop_loop"] = loop
    print(f"  {f'sequential loop of raw `pulumi up` ({count} no-op updates)':<58} {loop:8.2f}s")
    print(f"  {'engine starts of the no-op redeploy':<58} {max(starts):8d}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        type=sections,
        default=list(SECTIONS),
        metavar="SECTIONS",
        help=f"comma-separated sections to run (default: all): {','.join(SECTIONS)}",
    )
    parser.add_argument("--stacks", type=int, default=6, help="independent stacks (N)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="orchestrator workers (P)")
    parser.add_argument("--projects", type=int, default=500, help="projects in the generated estate")
    parser.add_argument("--noop-stacks", type=int, default=20, help="stacks of the no-op redeploy estate")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the single-stack comparison")
    parser.add_argument(
        "--latency", type=float, default=3.0, help="seconds each stack waits, like a cloud API"
    )
    args = parser.parse_args()
    only = set(args.only)
    cpus = os.cpu_count() or 1
    engine = bootstrap()
    print(f"engine {engine.pulumi_version} ({engine.bin_dir}); {cpus} CPUs; load {os.getloadavg()[0]:.2f}\n")
    results: dict[str, float] = {}

    with tempfile.TemporaryDirectory(prefix="appofapps-bench-") as tmp:
        base = Path(tmp)

        if "overhead" in only:
            print("1. orchestration overhead on one stack (both update an existing stack with no changes)")
            single = base / "single"
            project = write_project(single, "solo")
            env = environment(engine, base / "state-single")
            raw_up(engine, env, project)  # create it once so both sides measure the same no-op update
            results["raw"] = measure(
                "raw `pulumi stack select` + `pulumi up`", args.repeat, lambda: raw_up(engine, env, project)
            )
            results["orch"] = measure(
                "orchestrator deploy --force (lock, discovery, report)",
                args.repeat,
                lambda: orchestrated(engine, env, single, 1),
            )
            results["guarded"] = measure(
                "orchestrator deploy --force with the estate's policy pack",
                args.repeat,
                lambda: orchestrated(engine, env, single, 1, policy=True),
            )
            results["raw_guarded"] = measure(
                "raw `stack select` + `up --policy-pack` (previews first)",
                args.repeat,
                lambda: raw_up(engine, env, project, policy=True),
            )
            print()

        if "parallel" in only:
            print(
                f"2. {args.stacks} independent stacks ({args.latency:.0f}s simulated cloud latency each), "
                f"sequential loop vs orchestrator with P={args.workers}"
            )
            many = base / "many"
            projects = [write_project(many, f"leaf{i}", latency=args.latency) for i in range(args.stacks)]
            env_seq = environment(engine, base / "state-seq")
            per_stack_cpu: list[float] = []
            per_stack = [raw_up(engine, env_seq, p, per_stack_cpu) for p in projects]
            sequential = sum(per_stack)
            print(f"  {'sequential loop of raw `pulumi up` (create)':<58} {sequential:8.2f}s")
            print(f"  {'  of which CPU time (CLI, language host, program)':<58} {sum(per_stack_cpu):8.2f}s")
            env_par = environment(engine, base / "state-par")
            parallel = orchestrated(engine, env_par, many, args.workers)
            print(f"  {f'orchestrator, P={args.workers} (create)':<58} {parallel:8.2f}s")
            latency_bound = max(max(per_stack), sequential / args.workers)
            cpu_bound = max(max(per_stack_cpu), sum(per_stack_cpu) / cpus)
            print(f"  {'latency bound max(longest, total/P)':<58} {latency_bound:8.2f}s")
            print(f"  {f'CPU bound max(longest CPU, total CPU/{cpus} CPUs)':<58} {cpu_bound:8.2f}s")
            applies = "latency" if latency_bound >= cpu_bound else "CPU"
            print(
                f"  {f'bound that applies (the larger): {applies}':<58} {max(latency_bound, cpu_bound):8.2f}s\n"
            )
            results.update(
                sequential=sequential,
                parallel=parallel,
                latency_bound=latency_bound,
                cpu_bound=cpu_bound,
            )

        if "plan" in only:
            print(
                f"3. planning a generated {args.projects}-project estate (discovery, inference, levels; no engine)"
            )
            big = base / "big"
            generate_estate(big, args.projects)
            samples = []
            for _ in range(3):
                started = time.perf_counter()
                planned = plan(big, "bench")
                levels = planned.levels()
                samples.append(time.perf_counter() - started)
            results["plan"] = median(samples)
            print(f"  {'plan':<58} {results['plan']:8.2f}s  ({len(levels)} levels, median of 3)\n")

        if "backend" in only:
            chain_length = 4
            print(f"5. state backend: a chain of {chain_length} stacks on S3 over loopback vs a directory")
            chained = base / "chained"
            previous: list[str] = []
            for index in range(chain_length):
                refs = "".join(
                    f'pulumi.StackReference(f"organization/{dep}/{{pulumi.get_stack()}}")\n'
                    for dep in previous
                )
                write_project(chained, f"c{index}", deps=previous, program=PROGRAM + refs)
                previous = [f"c{index}"]
            file_env = environment(engine, base / "state-chain")
            with s3_server(engine) as bucket_env:
                noop_starts: dict[str, list[int]] = {"file": [], "s3": []}
                for label, env_ in (("file", file_env), ("s3", bucket_env)):
                    orchestrated(engine, env_, chained, 1)  # create the stacks and their records
                    results[f"{label}_forced"] = measure(
                        f"{label}: deploy --force",
                        args.repeat,
                        lambda e=env_: orchestrated(engine, e, chained, 1),
                    )
                    results[f"{label}_noop"] = measure(
                        f"{label}: no-op rerun (every stack up to date)",
                        args.repeat,
                        lambda e=env_, key=label: orchestrated(
                            engine, e, chained, 1, force=False, starts=noop_starts[key]
                        ),
                    )
                results["chain"] = chain_length
                results["s3_starts"] = max(noop_starts["s3"])
                results["file_starts"] = max(noop_starts["file"])
            print()

        if "startup" in only:
            startup(base, results)
            print()

        if "noop" in only:
            noop_redeploy(engine, base, args, results)
            print()

        if "local" in only:
            deploy_local(engine, base, results)
            print()

    print_ratios(results, args, cpus)
    return 0


def print_ratios(r: dict[str, float], args: argparse.Namespace, cpus: int) -> None:
    """Every ratio of the sections that ran, each with its target where the issue sets one."""
    print("ratios")
    if "raw" in r:
        overhead, guarded = r["orch"] / r["raw"], r["guarded"] / r["raw_guarded"]
        print(
            f"  orchestrator / raw pulumi up, one stack:           {overhead:6.2f}x"
            f"  ({r['orch'] - r['raw']:+.2f}s per run; target <= {OVERHEAD_TARGET}x, {verdict(overhead <= OVERHEAD_TARGET)})"
        )
        print(
            f"  the same, both with the policy pack and a preview: {guarded:6.2f}x"
            f"  ({r['guarded'] - r['raw_guarded']:+.2f}s per run; target <= {OVERHEAD_TARGET}x,"
            f" {verdict(guarded <= OVERHEAD_TARGET)})"
        )
        added = r["guarded"] - r["orch"]
        print(
            f"  with policy pack / without, one stack:             {r['guarded'] / r['orch']:6.2f}x"
            f"  ({added:+.2f}s per stack; target <= +{POLICY_TARGET:.0f}s, {verdict(added <= POLICY_TARGET)})"
        )
    if "parallel" in r:
        bound = max(r["latency_bound"], r["cpu_bound"])
        applies = "latency" if r["latency_bound"] >= r["cpu_bound"] else "CPU"
        print(
            f"  sequential loop / orchestrator, N={args.stacks} P={args.workers}:          "
            f"{r['sequential'] / r['parallel']:6.2f}x speed-up"
        )
        print(
            f"  orchestrator / latency bound:                       {r['parallel'] / r['latency_bound']:6.2f}x"
        )
        print(
            f"  orchestrator / CPU bound ({cpus} CPUs):                 {r['parallel'] / r['cpu_bound']:6.2f}x"
        )
        print(
            f"  orchestrator / the bound that applies ({applies}):  {r['parallel'] / bound:6.2f}x"
            f"  (1.00 = perfect; target <= 1.15, {verdict(r['parallel'] / bound <= 1.15)})"
        )
    if "plan" in r:
        print(
            f"  plan of {args.projects} projects:                            {r['plan']:6.2f}s"
            f"  (target < {PLAN_TARGET}s, {verdict(r['plan'] < PLAN_TARGET)})"
        )
        print(
            f"  plan per project:                                   {1000 * r['plan'] / args.projects:6.2f} ms"
        )
        if "raw" in r:
            print(
                f"  plan of {args.projects} projects / one raw pulumi up:         {r['plan'] / r['raw']:6.2f}x"
            )
    if "chain" in r:
        for kind in ("forced", "noop"):
            extra = (r[f"s3_{kind}"] - r[f"file_{kind}"]) / r["chain"]
            print(
                f"  S3 / file backend, {kind + ' run':<11} per stack:        "
                f"{r[f's3_{kind}'] / r[f'file_{kind}']:6.2f}x  ({extra:+.3f}s per stack)"
            )
        print(
            f"  engine starts of a no-op rerun on S3:               {r['s3_starts']:.0f}"
            f" (file: {r['file_starts']:.0f})"
        )
    if "startup" in r:
        print(
            f"  `appofapps plan` start-up, this environment:        {r['startup']:6.2f}s"
            f"  (target < {STARTUP_TARGET}s, {verdict(bool(r['startup_ok']))})"
        )
        print(
            f"  `appofapps plan` start-up, warm bytecode cache:     {r['startup_cached']:6.2f}s"
            f"  (target < {STARTUP_TARGET}s, {verdict(bool(r['startup_cached_ok']))})"
        )
    if "noop" in r:
        speedup = r["noop_loop"] / r["noop"]
        print(
            f"  raw pulumi up loop / no-op redeploy, {args.noop_stacks} stacks:      {speedup:6.2f}x faster"
            f"  (target >= {NOOP_TARGET:.0f}x, {verdict(speedup >= NOOP_TARGET and r['noop_starts'] == 0)};"
            f" engine starts {r['noop_starts']:.0f})"
        )
    for mode in ("render", "live"):
        if f"local_{mode}" not in r:
            continue
        wall, ratio = r[f"local_{mode}"], r[f"local_{mode}"] / r[f"local_{mode}_path"]
        if mode == "render":
            print(
                f"  deploy-local, rendered, from empty:                 {wall:6.2f}s"
                f"  (target < {LOCAL_TARGET:.0f}s, {verdict(wall < LOCAL_TARGET)})"
            )
        else:
            print(f"  deploy-local, live, from empty:                     {wall:6.2f}s  (no target)")
        print(
            f"  deploy-local ({mode}) / raw preview + up, critical path: {ratio:4.2f}x"
            f"  (target <= {PATH_TARGET}x, {verdict(ratio <= PATH_TARGET)})"
        )


if __name__ == "__main__":
    raise SystemExit(main())
