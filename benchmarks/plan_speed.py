"""How long the offline plan takes, as ratios against floors measured in the same run.

    uv run python benchmarks/plan_speed.py [--repeat N] [--cold] [--untyped-replay]

Every figure is a fresh process (start-up, imports, the work, exit): the minimum and the median of ``--repeat``
runs after one warm-up run each, wall-clock seconds and the process's CPU seconds (user + system). The commands
take turns, one round after another; a ratio is printed as the ratio of the minimums and as the median of the
rounds' ratios, which holds while the machine's load drifts:

floor            a process that only imports ``pulumi``, the ``pulumi_aws`` ``rds``, ``elasticache`` and ``ec2``
                 modules and the ``pulumi_kubernetes`` ``core/v1`` and ``apps/v1`` modules (the SDKs register these
                 as lazy modules: the statements load little).
replay prod      ``benchmarks/replay.py`` of prod's plan document: the SDKs registering exactly the resources of
                 ``agent-server-infra plan prod --json`` (type, name, parent, inputs) under the mocks of Pulumi's
                 unit-testing guide, through the SDK class of each type; nothing else. No library that builds these
                 resources with the SDKs' classes plans them for less.
plan prod        ``agent-server-infra plan prod``, tables printed: the shipped prod stack.
replay fleet 50  the same replay of the fleet's plan document.
fleet 50         ``agent-server-infra plan --quiet --json /dev/null`` of a generated project whose program builds 50
                 AgentServers on one shared ElastiCache ``Redis`` (``AgentServerArgs.existing_redis``). Each server has
                 its own ``redisKeyPrefix`` and namespace, an explicit ``redisMaxConnections`` (100: 50 servers × 6 pods
                 × 100 = 30000 clients fit the shared node's 58500) and an **external** Postgres (a database server
                 per team, given by its own ``postgresUri``), so the fleet measures servers and the shared Redis, not
                 50 RDS instances, and each server's Postgres budget stays its own.

``--untyped-replay`` adds the replays with every resource registered as a plain ``pulumi.CustomResource`` (a lower
bound no program that uses the SDKs' resource classes reaches).

Targets: ``plan prod / replay prod ≤ 1.25`` and ``fleet 50 / replay fleet 50 ≤ 1.20``; the ratios to the import
floor are printed beside them.

Bytecode: these machines export ``PYTHONDONTWRITEBYTECODE=1``, so every process would recompile every module
from source (about 2 s of the SDKs' code), which no installed tool does. The benchmark therefore gives its
processes a private bytecode cache (``PYTHONPYCACHEPREFIX`` in a temporary directory, nothing written next to the
sources) and warms it; ``--cold`` keeps the environment as it is.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FLOOR = """\
import pulumi
import pulumi_aws.rds
import pulumi_aws.elasticache
import pulumi_aws.ec2
import pulumi_kubernetes.core.v1
import pulumi_kubernetes.apps.v1
"""

FLEET_PROGRAM = '''\
"""N Agent Servers on one shared Redis, each with its own external Postgres (benchmarks/plan_speed.py)."""

import pulumi

from agent_server_infra import AgentServer, Redis
from agent_server_infra.inputs import args_from_config
from agent_server_infra.loaders import load_pulumi_config

args = args_from_config(load_pulumi_config())
redis = Redis("shared-redis", {"network": args["network"], "redis": args["redis"]})
for index in range(int(pulumi.Config("fleet").require("servers"))):
    team = f"team-{index:02d}"
    server = {**args["server"], "redis_key_prefix": f"{team}:", "namespace": team}
    uri = pulumi.Output.secret(f"postgresql://agents:pw-{index}@pg-{index}.db.example.com:5432/agents")
    team_args = {**args, "server": server, "postgres_uri": uri, "existing_redis": redis}
    pulumi.export(f"{team}-url", AgentServer(team, team_args).url)  # type: ignore[arg-type]
'''

FLEET_STACK = """\
config:
  aws:region: us-east-1
  fleet:servers: "{servers}"
  agent-server:network:
    vpcId: vpc-0123456789abcdef0
    subnetIds: [subnet-0123456789abcdef1, subnet-0123456789abcdef2]
    clientSecurityGroupIds: [sg-0123456789abcdef3]
  agent-server:postgres: {{mode: external, maxConnections: 400}}
  agent-server:redis: {{mode: single, nodeType: cache.r7g.large, replicas: 1}}
  agent-server:server:
    image: registry.example.com/agents:1.2.3
    serverVersion: 0.11.1
    redisMaxConnections: 100
    api: {{replicas: 2}}
    queue: {{replicas: 2}}
  agent-server:postgresUri: {{secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBB}}
  agent-server:licenseKey: {{secure: v1:CCCCCCCCCCCCCCCC:DDDDDDDD}}
"""

FLEET = 50
TARGETS = {"plan prod": ("replay prod", 1.25), f"fleet {FLEET}": (f"replay fleet {FLEET}", 1.20)}


def write_fleet_project(directory: Path) -> Path:
    """A Pulumi project (``Pulumi.yaml`` + ``__main__.py``) and the stack file of its fleet of :data:`FLEET`."""
    (directory / "Pulumi.yaml").write_text("name: fleet\nruntime: python\n")
    (directory / "__main__.py").write_text(FLEET_PROGRAM)
    stack = directory / f"Pulumi.fleet-{FLEET}.yaml"
    stack.write_text(FLEET_STACK.format(servers=FLEET))
    return stack


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of ``command``, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(runs: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict[str, list[tuple[float, float]]]:
    """``repeat`` (wall, cpu) pairs of each command, after one untimed warm-up run each. The commands take turns
    (round-robin), so a change in the machine's load shifts them all alike instead of one ratio."""
    for command in runs.values():
        run_once(command, env)
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in runs}
    for _ in range(repeat):
        for label, command in runs.items():
            times[label].append(run_once(command, env))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per command (after a warm-up)")
    parser.add_argument("--cold", action="store_true", help="keep PYTHONDONTWRITEBYTECODE: compile every run")
    parser.add_argument("--untyped-replay", action="store_true",
                        help="also replay every resource as a plain pulumi.CustomResource (a lower bound)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="plan-speed-") as scratch:
        directory = Path(scratch)
        env = dict(os.environ)
        if not args.cold:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
        fleet = write_fleet_project(directory)
        python = sys.executable
        cli = str(Path(python).with_name("agent-server-infra"))
        replay = [python, str(ROOT / "benchmarks" / "replay.py")]
        documents = {"prod": directory / "prod.json", f"fleet {FLEET}": directory / "fleet.json"}
        for stack, document in (("prod", documents["prod"]), (str(fleet), documents[f"fleet {FLEET}"])):
            subprocess.run([cli, "plan", stack, "--quiet", "--show-secrets", "--json", str(document)], cwd=ROOT,
                           env=env, check=True)
        runs: dict[str, list[str]] = {
            "floor": [python, "-c", FLOOR],
            "replay prod": [*replay, str(documents["prod"])],
            "plan prod": [cli, "plan", "prod"],
            f"replay fleet {FLEET}": [*replay, str(documents[f"fleet {FLEET}"])],
            f"fleet {FLEET}": [cli, "plan", "--quiet", "--json", os.devnull, str(fleet)],
        }
        if args.untyped_replay:
            runs["untyped replay prod"] = [*replay, str(documents["prod"]), "--untyped"]
            runs[f"untyped replay fleet {FLEET}"] = [*replay, str(documents[f"fleet {FLEET}"]), "--untyped"]
        mode = "cold: no bytecode cache" if args.cold else "warm bytecode cache"
        print(f"{args.repeat} interleaved runs each after a warm-up, {mode}", flush=True)
        times = timed(runs, env, args.repeat)

    width = max(len(label) for label in runs) + 2
    print(f"\n{'':<{width}} {'wall min':>9} {'median':>8} {'cpu min':>8} {'median':>8}")
    figures: dict[str, tuple[float, float, float, float]] = {}
    for label, pairs in times.items():
        walls, cpus = [wall for wall, _ in pairs], [cpu for _, cpu in pairs]
        figures[label] = (min(walls), statistics.median(walls), min(cpus), statistics.median(cpus))
        print(f"{label:<{width}} " + " ".join(f"{value:8.3f}" for value in figures[label]))

    def ratio(a: str, b: str) -> str:
        """Wall and CPU: the ratio of the minimums, and the median of the ratios run by run (each round runs ``a``
        and ``b`` back to back, so a round's ratio holds while the machine's load drifts)."""
        cells = []
        for index in (0, 1):  # wall, cpu
            rounds = [x[index] / y[index] for x, y in zip(times[a], times[b], strict=True)]
            cells += [min(x[index] for x in times[a]) / min(y[index] for y in times[b]), statistics.median(rounds)]
        return " ".join(f"{value:8.2f}" for value in cells)

    ratios = [(plan, baseline, f"target ≤ {target:.2f}") for plan, (baseline, target) in TARGETS.items()]
    ratios += [(label, "floor", "") for label in runs if label != "floor"]
    ratios += [(f"untyped replay {name}", f"replay {name}", "") for name in ("prod", f"fleet {FLEET}")
               if f"untyped replay {name}" in runs]
    width = max(len(f"{a} / {b}") for a, b, _ in ratios) + 2
    print(f"\n{'ratio':<{width}} {'wall min':>9} {'median':>8} {'cpu min':>8} {'median':>8}")
    for a, b, note in ratios:
        print(f"{a + ' / ' + b:<{width}} {ratio(a, b)}   {note}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
