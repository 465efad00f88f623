"""How long the offline plan takes, as ratios against a floor measured in the same run.

    uv run python benchmarks/plan_speed.py [--repeat N] [--cold] [--materialized-floor]

Every number is the wall-clock time of a fresh process (start-up, imports, the plan, teardown), the minimum and
the median of ``--repeat`` runs after one warm-up run; the commands take turns, so the machine's load drifts
over all of them alike:

floor     a process that only imports ``pulumi``, the ``pulumi_aws`` ``rds``, ``elasticache`` and ``ec2`` modules
          and the ``pulumi_kubernetes`` ``core/v1`` and ``apps/v1`` modules (issue 6's definition). ``pulumi_aws``
          registers its subpackages as lazy modules, so those three import statements load little;
          ``--materialized-floor`` also touches one class of each (which loads every module of rds, elasticache
          and ec2) for comparison.
plan      ``agent-server-infra plan prod --quiet --json /dev/null``: the shipped prod stack, 30 resources.
fleet N   ``agent-server-infra plan`` of a generated project whose program builds N AgentServers on one shared
          ElastiCache ``Redis`` (``AgentServerArgs.existing_redis``). Each server has its own ``redisKeyPrefix`` and
          namespace, an explicit ``redisMaxConnections`` (100: 50 servers × 6 pods × 100 = 30000 clients fit the
          shared node's 58500) and an **external** Postgres (a database server per team, given by its own
          ``postgresUri``), so the fleet measures servers and the shared Redis, not 50 RDS instances, and each
          server's Postgres budget stays its own. One server is 21 resources (with the Redis), each further one 13.

Targets (issue 6): ``plan prod / floor ≤ 1.3`` and ``fleet 50 / fleet 1 ≤ 2``.

Bytecode: these machines export ``PYTHONDONTWRITEBYTECODE=1``, so every process would recompile every module
from source (about 2 s of the SDKs' code), which no installed tool does. The benchmark therefore gives its
processes a private bytecode cache (``PYTHONPYCACHEPREFIX`` in a temporary directory, nothing written next to the
sources) and warms it; ``--cold`` keeps the environment as it is.
"""

from __future__ import annotations

import argparse
import os
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
MATERIALIZE = """\
pulumi_aws.rds.Instance, pulumi_aws.elasticache.ReplicationGroup, pulumi_aws.ec2.SecurityGroup
pulumi_kubernetes.core.v1.Service, pulumi_kubernetes.apps.v1.Deployment
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

FLEET_SIZES = (1, 10, 50)


def write_fleet_project(directory: Path, sizes: tuple[int, ...] = FLEET_SIZES) -> dict[int, Path]:
    """A Pulumi project (``Pulumi.yaml`` + ``__main__.py``) and one stack file per fleet size."""
    (directory / "Pulumi.yaml").write_text("name: fleet\nruntime: python\n")
    (directory / "__main__.py").write_text(FLEET_PROGRAM)
    stacks: dict[int, Path] = {}
    for servers in sizes:
        stacks[servers] = directory / f"Pulumi.fleet-{servers}.yaml"
        stacks[servers].write_text(FLEET_STACK.format(servers=servers))
    return stacks


def timed(runs: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict[str, list[float]]:
    """Wall-clock seconds of ``repeat`` runs of each command, after one untimed warm-up run each. The commands
    take turns (round-robin), so a change in the machine's load shifts them all alike instead of one ratio."""
    for command in runs.values():
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeat):
        for label, command in runs.items():
            start = time.perf_counter()
            subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
            times[label].append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per measurement (after a warm-up)")
    parser.add_argument("--cold", action="store_true", help="keep PYTHONDONTWRITEBYTECODE: compile every run")
    parser.add_argument("--materialized-floor", action="store_true",
                        help="let the floor also load the rds, elasticache and ec2 modules it imports lazily")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="plan-speed-") as scratch:
        env = dict(os.environ)
        if not args.cold:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")
        stacks = write_fleet_project(Path(scratch))
        python = sys.executable
        cli = str(Path(python).with_name("agent-server-infra"))
        plan = [cli, "plan", "--quiet", "--json", os.devnull]
        runs: dict[str, list[str]] = {
            "floor": [python, "-c", FLOOR + (MATERIALIZE if args.materialized_floor else "")],
            "plan prod": [*plan, "prod"],
            **{f"fleet {servers}": [*plan, str(stacks[servers])] for servers in FLEET_SIZES},
        }
        mode = "cold: no bytecode cache" if args.cold else "warm bytecode cache"
        floor_kind = "materialized" if args.materialized_floor else "import statements only"
        print(f"{args.repeat} interleaved runs each after a warm-up, {mode}; floor: {floor_kind}", flush=True)
        times = timed(runs, env, args.repeat)
        results = {label: (min(values), statistics.median(values)) for label, values in times.items()}
        print(f"{'':<10} {'min s':>8} {'median s':>9}")
        for label, (best, median) in results.items():
            print(f"{label:<10} {best:8.3f} {median:9.3f}")

    def ratio(a: str, b: str) -> str:
        return f"{results[a][0] / results[b][0]:5.2f} {results[a][1] / results[b][1]:9.2f}"

    print()
    print(f"{'ratio':<20} {'min':>5} {'median':>9}")
    print(f"{'plan prod / floor':<20} {ratio('plan prod', 'floor')}   target ≤ 1.30")
    print(f"{'fleet 1 / floor':<20} {ratio('fleet 1', 'floor')}")
    print(f"{'fleet 10 / fleet 1':<20} {ratio('fleet 10', 'fleet 1')}")
    print(f"{'fleet 50 / fleet 1':<20} {ratio('fleet 50', 'fleet 1')}   target ≤ 2.00")
    return 0


if __name__ == "__main__":
    sys.exit(main())
