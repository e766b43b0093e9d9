"""Command line: python -m kafkalab up | down [--wipe] | status | kill|stop|start|pause|resume N
| bench | tool NAME ARGS | cds."""
from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from .errors import LabError
from .lab import topology
from .lab.launcher import launcher_for

if TYPE_CHECKING:
    from .lab.cluster import Lab


def print_status(launcher) -> None:
    """Print one line per node: id, role, port, pid, state, memory; then the controller."""
    from .lab.cluster import node_status
    rows = node_status(launcher)
    print(f"{'id':>3}  {'role':<10} {'port':>5}  {'pid':>8}  {'state':<7} {'rss':>8}")
    for r in rows:
        rss = f"{r['rss_mb']:.0f} MiB" if r["rss_mb"] else "-"
        print(f"{r['id']:>3}  {r['role']:<10} {r['port']:>5}  {r['pid'] or '-':>8}  "
              f"{r['state']:<7} {rss:>8}")
    ctl = topology.CONTROLLER
    up_ = launcher.state(ctl) == "up"
    print(f"controller: node {ctl.id} (the only KRaft voter) is "
          f"{'active' if up_ else launcher.state(ctl)}; launcher: {launcher.kind}; "
          f"bootstrap: {topology.BOOTSTRAP}")


def clean(lab: Lab, external: bool) -> int:
    """Delete the book's topics: all of the own lab's, or the kafkalab-* ones on an external cluster."""
    if external and not lab.external:
        print("kafkalab: clean --external needs KAFKA_BOOTSTRAP_SERVERS, the cluster to clean; "
              "`python -m kafkalab clean` empties the book's own lab", file=sys.stderr)
        return 2
    if lab.external and not external:
        print("kafkalab: KAFKA_BOOTSTRAP_SERVERS is set: `python -m kafkalab clean --external` "
              "deletes the kafkalab-* topics and groups there; unset it to empty the book's own lab",
              file=sys.stderr)
        return 2
    if external:
        topics, groups, busy = lab.clean_external()
        print(f"deleted {len(topics)} topics and {len(groups)} consumer groups named kafkalab-* "
              f"on {lab.bootstrap}")
        if busy:
            print(f"kept {len(busy)} groups that still have members ({', '.join(busy)}): run "
                  "clean --external again once they have left (their session timeout)")
    else:
        print(f"deleted {lab.clear_topics()} topics on the lab")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one lab command; return the exit code."""
    ap = argparse.ArgumentParser(prog="python -m kafkalab", description="The book's Kafka lab.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start the lab (or the nodes that are down) and wait until ready")
    d = sub.add_parser("down", help="stop every lab process")
    d.add_argument("--wipe", action="store_true", help="also delete data, logs and cluster id")
    sub.add_parser("status", help="print each node's id, role, port, pid and state")
    sub.add_parser("cds", help="write the JVMs' class-data archives (make jars does)")
    c = sub.add_parser("clean", help="delete the lab's topics (--external: what the book made on "
                                     "the cluster KAFKA_BOOTSTRAP_SERVERS names)")
    c.add_argument("--external", action="store_true",
                   help="delete the kafkalab-* topics and consumer groups on the external cluster")
    for cmd in ("kill", "stop", "start", "pause", "resume"):
        p = sub.add_parser(cmd, help=f"{cmd} one broker")
        p.add_argument("broker", type=int, help=f"broker id: {[b.id for b in topology.BROKERS]}")
    sub.add_parser("bench", add_help=False,
                   help="Python harness vs Kafka's ProducerPerformance (see bench --help)")
    t = sub.add_parser("tool", add_help=False,
                       help="run one of Kafka's tools on the lab, e.g. tool kafka-topics --list")
    t.add_argument("name", help="kafka-topics, kafka-log-dirs, kafka-dump-log, ...")
    args, rest = ap.parse_known_args(argv)
    if args.cmd == "bench":
        from .workloads.bench import main as bench
        return bench(rest)
    if args.cmd == "tool":
        from .lab import tools
        try:
            done = tools.run(args.name, *rest, check=False)
        except LabError as e:
            print(f"kafkalab: {e}", file=sys.stderr)
            return 1
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.returncode
    if args.cmd == "cds":
        from .lab import cds
        try:
            return cds.main()
        except LabError as e:
            print(f"kafkalab: {e}", file=sys.stderr)
            return 1
    if rest:
        ap.error(f"unrecognised arguments: {' '.join(rest)}")
    from .lab.cluster import Lab, connect, down, up  # the client library: not needed by cds above
    try:
        if args.cmd == "clean":
            return clean(connect(), args.external)
        launcher = launcher_for()
        if args.cmd == "up":
            t = time.monotonic()
            was = [n for n in topology.NODES if launcher.state(n) == "up"]
            up(launcher)
            verb = "already running" if len(was) == len(topology.NODES) else "ready"
            print(f"lab {verb} in {time.monotonic() - t:.1f} s; bootstrap {topology.BOOTSTRAP}")
            print_status(launcher)
        elif args.cmd == "down":
            down(launcher, wipe=args.wipe)
            print("lab stopped" + (" and wiped" if args.wipe else ""))
        elif args.cmd == "status":
            print_status(launcher)
        else:
            lab = Lab(topology.BOOTSTRAP, launcher)
            getattr(lab, args.cmd)(args.broker)
            print(f"broker {args.broker}: {args.cmd} done; now {lab.state(args.broker)}")
    except LabError as e:
        print(f"kafkalab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
