#!/usr/bin/env python3
"""bench.py - runs the benchmark plan and writes the results and the report.

    python3 bench/bench.py --mode quick|full --build build-bench --out DIR

The plan is the common path of a thread pool, against its peers:

  single    n empty tasks submitted one by one from a thread outside the
            pool, then a wait for all (2 and 4 workers)
  future    the same with a future per task: submit each, then get each
  batch     the same tasks through the peers' batch or bulk constructs
            (tp_submit_batch, the naive pool's chained batch, oneTBB
            parallel_for, OpenMP taskloop)
  memory    bytes per queued task, with and without a future
  queue     tp_queue against a mutex + condvar ring and GAsyncQueue, 1x1
            and 2x2 producers x consumers
  forkjoin  fib(n) with a task per call: the suite's adapters (tpool's
            three ways, oneTBB task_group, both OpenMPs) and fib written
            directly against tp_spawn/tp_sync and Lace (bench/fj.sh)

and, only when asked for with --only, two checks that the pool does not buy
throughput by spinning: latency (one task every 200 us) and idle (CPU time
of an idle pool).

It finds the peers (the tpbench-<peer> and tpqueue-<name> programs that the
build made, the native fork-join programs listed in native.tsv, and
Python's ThreadPoolExecutor through peer_python.py), asks each which
workloads it can run (--info), and runs every measurement as a process of
its own, at the priority it was started with (nothing is reniced).
Repetitions are rounds: each round runs every cell of the plan once, all
workloads and peers mixed in a new random order, so that whatever else the
machine is doing spreads over all peers alike.  For every run it notes the
load average and the CPU time that other processes used meanwhile (from
/proc/stat), and the report says how loaded the machine was.

It writes DIR/bench/results.json (machine, peers, every run, the
aggregates: median, min, max, and tpool's ratio to every peer with its
range), DIR/bench/results.csv (the aggregates) and, through report.py,
DIR/benchmarks.md with SVG charts in DIR/bench/.

Exit status: 0, or 1 if a measurement failed (a program crashed, timed out
or found a wrong result); results and report are written either way.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import report  # noqa: E402

# Sizes per mode.  "_py" entries are Python's (its per-task cost is ~50x a
# C pool's, so it gets fewer tasks; figures are per task, so they compare).
MODES = {
    "quick": {
        "rounds": 2, "timeout": 60,
        "threads": [2, 4], "fj_threads": [1, 2],
        "empty_n": 20000, "empty_py": 2000,
        "memory_n": 50000, "memory_py": 5000,
        "queue_n": 100000, "queue_configs": [[1, 1], [2, 2]],
        "fib": [20],
        "latency_n": 200, "latency_gap_us": 200, "idle_ms": 200,
    },
    "full": {
        "rounds": 7, "timeout": 600,
        "threads": [2, 4], "fj_threads": [1, 2],
        "empty_n": 1000000, "empty_py": 100000,
        "memory_n": 1000000, "memory_py": 100000,
        "queue_n": 1000000, "queue_configs": [[1, 1], [2, 2]],
        "fib": [30],
        "latency_n": 5000, "latency_gap_us": 200, "idle_ms": 1000,
    },
}

GROUPS = ["single", "future", "batch", "memory", "queue", "forkjoin"]
EXTRA_GROUPS = ["latency", "idle"]

# Units and direction of every figure the programs print.
METRICS = {
    "ns_per_task": ("ns", "lower"), "total_ms": ("ms", "lower"),
    "tasks": ("tasks", "none"),
    "p50_us": ("us", "lower"), "p90_us": ("us", "lower"),
    "p99_us": ("us", "lower"), "mean_us": ("us", "lower"),
    "max_us": ("us", "lower"),
    "items_per_s": ("items/s", "higher"), "ns_per_item": ("ns", "lower"),
    "heap_bytes": ("bytes", "lower"), "rss_bytes": ("bytes", "lower"),
    "cpu_ms": ("ms", "lower"), "cpu_pct": ("%", "lower"),
}

# The figure of each group that ratios are taken of.
HEADLINE = {"single": "ns_per_task", "future": "ns_per_task",
            "batch": "ns_per_task", "memory": "rss_bytes",
            "queue": "items_per_s", "forkjoin": "ns_per_task",
            "latency": "p50_us", "idle": "cpu_ms"}

# Peers in the order of the report.
ORDER = ["tpool", "tpool-fj", "tpool-inplace", "tpool-fj-native",
         "baseline", "glib", "libuv", "tbb", "tbb-group", "openmp",
         "openmp-llvm", "lace", "python", "sequential",
         "mutex"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def core_count():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# ---------------------------------------------------------------------------
# Peers


class Peer:
    def __init__(self, info, cmd, kind):
        self.name = info["peer"]
        self.title = info.get("title", self.name)
        self.version = info.get("version", "")
        self.notes = info.get("notes", "")
        self.future_form = info.get("future_form", "")
        self.batch_form = info.get("batch_form", "")
        self.workloads = set(info.get("workloads", []))
        self.batch = info.get("batch", False)
        self.futures = info.get("futures", False)
        self.futures_only = info.get("futures_only", False)
        self.nested_join = info.get("nested_join", False)
        self.waiter_runs_tasks = info.get("waiter_runs_tasks", False)
        self.batch_waiter_runs = info.get("batch_waiter_runs", False)
        self.cmd = cmd
        self.kind = kind  # "pool", "queue" or "native"

    def describe(self):
        return {"name": self.name, "title": self.title,
                "version": self.version, "notes": self.notes,
                "future_form": self.future_form,
                "batch_form": self.batch_form, "kind": self.kind,
                "workloads": sorted(self.workloads), "batch": self.batch,
                "futures": self.futures, "nested_join": self.nested_join,
                "waiter_runs_tasks": self.waiter_runs_tasks,
                "batch_waiter_runs": self.batch_waiter_runs}


NATIVE = {
    "tpbench-fj-fib": {
        "peer": "tpool-fj-native", "title": "tpool tp_spawn/tp_sync, "
        "fib written against the API (bench/fj_fib.c)",
        "notes": "tp_fj_run, then tp_spawn + tp_sync per call."},
    "tpbench-fj-fib-lace": {
        "peer": "lace", "title": "Lace, fib written against its API "
        "(bench/fj_fib_lace.c)",
        "notes": "SPAWN/CALL/SYNC; Lace's idle workers spin."},
}


def read_manifest(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(line.rstrip("\n").split("\t") + ["", "", ""])[:3]
                for line in f if line.strip()]


def find_peers(build, want):
    """Returns (pool peers, queue peers, native peers, skipped
    [(name, reason)])."""
    bdir = os.path.join(build, "bench")
    manifest = os.path.join(bdir, "peers.tsv")
    pools, queues, natives, skipped = [], [], [], []
    if not os.path.exists(manifest):
        raise SystemExit("bench: %s missing: configure with TPOOL_BENCH=ON"
                         % manifest)
    for status, exe, reason in read_manifest(manifest):
        kind = "queue" if exe.startswith("tpqueue-") else "pool"
        name = exe.split("-", 1)[1].replace("_", "-")
        label = name if kind == "pool" else "queue " + name
        if want and name not in want:
            continue
        path = os.path.join(bdir, exe)
        if status != "built":
            skipped.append((label, reason))
            continue
        if not os.access(path, os.X_OK):
            skipped.append((label, "did not build (see the build output)"))
            continue
        try:
            out = subprocess.run([path, "--info"], capture_output=True,
                                 text=True, timeout=30, check=True).stdout
            peer = Peer(json.loads(out), [path], kind)
        except (subprocess.SubprocessError, ValueError, OSError) as e:
            skipped.append((label, "--info failed: %s" % e))
            continue
        (queues if kind == "queue" else pools).append(peer)
    for status, exe, reason in read_manifest(os.path.join(bdir,
                                                          "native.tsv")):
        info = NATIVE.get(exe)
        if info is None or (want and info["peer"] not in want):
            continue
        path = os.path.join(bdir, exe)
        if status != "built" or not os.access(path, os.X_OK):
            skipped.append((info["peer"], reason or "not built"))
            continue
        version = "this repository" if info["peer"] != "lace" else (
            reason or "from LACE_SRC")
        natives.append(Peer(dict(info, version=version,
                                 workloads=["forkjoin"]), [path], "native"))
    if not want or "python" in want:
        script = os.path.join(HERE, "peer_python.py")
        try:
            out = subprocess.run([sys.executable, script, "--info"],
                                 capture_output=True, text=True, timeout=30,
                                 check=True).stdout
            pools.append(Peer(json.loads(out), [sys.executable, script],
                              "pool"))
        except (subprocess.SubprocessError, ValueError, OSError) as e:
            skipped.append(("python", "peer_python.py --info failed: %s" % e))
    key = lambda p: (ORDER.index(p.name) if p.name in ORDER else 99,  # noqa
                     p.name)
    return (sorted(pools, key=key), sorted(queues, key=key),
            sorted(natives, key=key), skipped)


# ---------------------------------------------------------------------------
# Plan


class Cell:
    """One measurement: a program, a workload and its arguments."""

    def __init__(self, group, peer, workload, label=None, native=None,
                 **args):
        self.group = group
        self.peer = peer
        self.label = label or peer.name  # name in the results
        self.workload = workload
        self.native = native  # (n, threads) of a native fork-join program
        self.args = args

    def command(self):
        if self.native is not None:
            return list(self.peer.cmd) + [str(x) for x in self.native]
        cmd = list(self.peer.cmd) + [self.workload]
        for k, v in self.args.items():
            if v not in (None, ""):
                cmd += ["--" + k.replace("_", "-"), str(v)]
        return cmd

    def describe(self):
        parts = ["%s=%s" % (k, v) for k, v in self.args.items()
                 if k in ("variant", "threads", "n", "producers",
                          "consumers") and v not in (None, "")]
        if self.native is not None:
            parts = ["n=%d" % self.native[0], "threads=%d" % self.native[1]]
        return "%-8s %-15s %s" % (self.group, self.label, " ".join(parts))


def make_plan(cfg, pools, queues, natives, groups):
    cells = []
    by = lambda w: [p for p in pools if w in p.workloads and  # noqa: E731
                    not p.futures_only]
    by_f = lambda w: [p for p in pools if w in p.workloads]  # noqa: E731
    size = lambda p, key: cfg[key + "_py"] if p.name == "python" \
        else cfg[key + "_n"]  # noqa: E731

    if "single" in groups:
        for p in by("empty"):
            for t in cfg["threads"]:
                cells.append(Cell("single", p, "empty", variant="single",
                                  threads=t, n=size(p, "empty")))
    if "future" in groups:
        for p in by_f("empty"):
            if p.futures:
                for t in cfg["threads"]:
                    cells.append(Cell("future", p, "empty", variant="future",
                                      threads=t, n=size(p, "empty")))
    if "batch" in groups:
        for p in by("empty"):
            if p.batch:
                for t in cfg["threads"]:
                    cells.append(Cell("batch", p, "empty", variant="batch",
                                      threads=t, n=cfg["empty_n"]))
    if "memory" in groups:
        for p in by("memory"):
            for v in ("task", "future"):
                if v == "future" and not p.futures:
                    continue
                cells.append(Cell("memory", p, "memory", variant=v,
                                  n=size(p, "memory")))
    if "queue" in groups:
        for q in queues:
            for prod, cons in cfg["queue_configs"]:
                cells.append(Cell("queue", q, "queue", producers=prod,
                                  consumers=cons, n=cfg["queue_n"]))
    if "forkjoin" in groups:
        for fib in cfg["fib"]:
            for p in by_f("forkjoin"):
                for t in cfg["fj_threads"]:
                    cells.append(Cell("forkjoin", p, "forkjoin", threads=t,
                                      n=fib))
            for p in natives:
                for t in cfg["fj_threads"]:
                    cells.append(Cell("forkjoin", p, "forkjoin",
                                      native=(fib, t)))
            seq = [p for p in pools if p.name == "tpool"]
            if seq:
                cells.append(Cell("forkjoin", seq[0], "seqfib",
                                  label="sequential", n=fib))
    if "latency" in groups:
        for p in by("latency"):
            for t in cfg["threads"]:
                cells.append(Cell("latency", p, "latency", threads=t,
                                  n=cfg["latency_n"],
                                  gap_us=cfg["latency_gap_us"]))
    if "idle" in groups:
        for p in by("idle"):
            cells.append(Cell("idle", p, "idle", threads=max(cfg["threads"]),
                              ms=cfg["idle_ms"]))
    return cells


# ---------------------------------------------------------------------------
# Running


def busy_seconds():
    """CPU time the whole machine has spent busy (all CPUs, including time
    stolen by a hypervisor), from /proc/stat; None if unknown."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def children_seconds():
    t = os.times()
    return t.children_user + t.children_system


def run_cell(cell, timeout):
    """Runs one measurement; returns (record or None, error or None).  The
    record notes how much CPU time other processes used meanwhile and the
    load average when it started."""
    cmd = cell.command()
    load = os.getloadavg()[0]
    b0, c0, t0 = busy_seconds(), children_seconds(), time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % timeout
    except OSError as e:
        return None, str(e)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return None, "exit status %d: %s" % (p.returncode, " | ".join(tail))
    try:
        rec = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, "unreadable output: %r" % p.stdout[-200:]
    wall = time.monotonic() - t0
    b1, c1 = busy_seconds(), children_seconds()
    rec["peer"] = cell.label
    rec["group"] = cell.group
    if cell.native is not None:
        rec["workload"] = "forkjoin"
        rec["variant"] = "fib%d" % cell.native[0]
    rec.setdefault("variant", "")
    rec["load1"] = round(load, 2)
    rec["wall_s"] = round(wall, 3)
    if b0 is not None and b1 is not None:
        rec["others_cpu_s"] = round(max(b1 - b0 - (c1 - c0), 0.0), 3)
    return rec, None


def disturbed(rec):
    """Whether other processes used a noticeable share of the CPU while this
    ran (more than 10% of one core, above the 10 ms tick resolution)."""
    if "others_cpu_s" not in rec:
        return False
    return rec["others_cpu_s"] > 0.1 * rec["wall_s"] + 0.02


def headline_figure(rec):
    m = rec["metrics"]
    key = HEADLINE.get(rec["group"])
    if key in m:
        return "%.4g %s" % (m[key], METRICS[key][0])
    return ""


def fmt_duration(s):
    s = int(s)
    return "%dm%02ds" % (s // 60, s % 60) if s >= 60 else "%ds" % s


def run_plan(cells, rounds, timeout):
    """Runs every cell once per round, all cells of a round in a new random
    order."""
    total = len(cells) * rounds
    runs, failures = [], []
    done = 0
    t_start = time.monotonic()
    for rnd in range(rounds):
        order = list(cells)
        random.Random("round %d" % rnd).shuffle(order)
        log("bench: round %d of %d (%d measurements)"
            % (rnd + 1, rounds, len(order)))
        for cell in order:
            done += 1
            elapsed = time.monotonic() - t_start
            eta = elapsed / (done - 1) * (total - done + 1) if done > 1 else 0
            log("bench:   %4d/%d  %s  (%s, ~%s left)"
                % (done, total, cell.describe(), fmt_duration(elapsed),
                   fmt_duration(eta)))
            rec, err = run_cell(cell, timeout)
            if err is not None:
                log("bench:   FAILED %s %s: %s"
                    % (cell.label, " ".join(cell.command()[-8:]), err))
                failures.append({"group": cell.group, "peer": cell.label,
                                 "command": cell.command(), "error": err})
                continue
            rec["round"] = rnd
            rec["disturbed"] = disturbed(rec)
            runs.append(rec)
            log("bench:          -> %s%s" % (headline_figure(rec),
                                             "  (others busy)"
                                             if rec["disturbed"] else ""))
    return runs, failures


# ---------------------------------------------------------------------------
# Aggregation


def aggregate(runs):
    """Median, min and max of every figure over the rounds."""
    acc = {}
    for r in runs:
        key = (r["group"], r["workload"], r["variant"], r["peer"],
               r["threads"], r["n"])
        for metric, value in r["metrics"].items():
            acc.setdefault(key + (metric,), []).append(value)
    out = []
    for (g, w, v, p, t, n, metric), values in sorted(
            acc.items(), key=lambda kv: str(kv[0])):
        unit, better = METRICS.get(metric, ("", "none"))
        out.append({"group": g, "workload": w, "variant": v, "peer": p,
                    "threads": t, "n": n, "metric": metric, "unit": unit,
                    "better": better, "median": statistics.median(values),
                    "min": min(values), "max": max(values),
                    "reps": len(values), "values": values})
    return out


def reference_of(group, peer):
    """The tpool cell a peer is compared with: in fork-join, fib written
    against an API is compared with tpool's fib written against its API,
    and the suite's adapters with tpool's fork-join adapter."""
    if group == "forkjoin":
        return "tpool-fj-native" if peer == "lace" else "tpool-fj"
    return "tpool"


def comparisons(results):
    rows = {}
    for r in results:
        if r["metric"] != HEADLINE.get(r["group"]):
            continue
        rows[(r["group"], r["variant"], r["peer"], r["threads"])] = r
    out = []
    for (g, v, p, t), r in sorted(rows.items(), key=lambda kv: str(kv[0])):
        ref = reference_of(g, p)
        if p == ref or p.startswith("tpool"):
            continue
        tp = rows.get((g, v, ref, t))
        if g == "forkjoin" and p == "sequential":
            continue
        c = report.compare(tp, r)
        if c is not None:
            out.append(dict(c, group=g, variant=v, peer=p, threads=t,
                            reference=ref, metric=r["metric"]))
    return out


# ---------------------------------------------------------------------------
# Machine


def command_version(cmd):
    try:
        out = subprocess.run(cmd + ["--version"], capture_output=True,
                             text=True, timeout=10).stdout
        return out.splitlines()[0].strip() if out else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info(build):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    os_name = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = "%.1f GiB" % (kb / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    cc = cxx = clang = ""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_C_COMPILER:"):
                    cc = line.split("=", 1)[1].strip()
                elif line.startswith("CMAKE_CXX_COMPILER:"):
                    cxx = line.split("=", 1)[1].strip()
                elif line.startswith("TPBENCH_CLANG:"):
                    clang = line.split("=", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": cpu or platform.processor() or "unknown",
        "cores": core_count(),
        "logical_cpus": os.cpu_count(),
        "memory": mem,
        "os": os_name or platform.system(),
        "kernel": platform.release(),
        "compiler": command_version([cc]) if cc else "",
        "cxx_compiler": command_version([cxx]) if cxx else "",
        "clang": command_version([clang]) if clang and
        not clang.endswith("NOTFOUND") else "",
        "python": "Python " + platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "load_before": list(os.getloadavg()),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
    }


def load_summary(runs):
    """How busy the machine was while the runs ran."""
    if not runs:
        return {}
    loads = [r["load1"] for r in runs if "load1" in r]
    others = [r["others_cpu_s"] / r["wall_s"] for r in runs
              if "others_cpu_s" in r and r["wall_s"] > 0]
    out = {"runs": len(runs),
           "disturbed": sum(1 for r in runs if r.get("disturbed"))}
    if loads:
        out.update(load_min=min(loads), load_median=statistics.median(loads),
                   load_max=max(loads))
    if others:
        out.update(others_cores_median=statistics.median(others),
                   others_cores_max=max(others))
    return out


def write_json(f, data):
    """JSON with one line per element of the top-level lists (compact, and
    a change of one figure is a change of one line)."""
    f.write("{\n")
    keys = sorted(data)
    for i, k in enumerate(keys):
        v = data[k]
        f.write(" %s: " % json.dumps(k))
        if isinstance(v, list) and v:
            f.write("[\n" + ",\n".join("  " + json.dumps(x, sort_keys=True)
                                        for x in v) + "\n ]")
        else:
            f.write(json.dumps(v, sort_keys=True))
        f.write(",\n" if i + 1 < len(keys) else "\n")
    f.write("}\n")


def write_csv(path, results, comps):
    cols = ["group", "workload", "variant", "peer", "threads", "n", "metric",
            "unit", "better", "median", "min", "max", "reps"]
    ratio = {(c["group"], c["variant"], c["peer"], c["threads"]): c
             for c in comps}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + ["tpool_ratio", "ratio_min", "ratio_max",
                           "verdict"])
        for r in results:
            c = ratio.get((r["group"], r["variant"], r["peer"],
                           r["threads"])) if r["metric"] == HEADLINE.get(
                               r["group"]) else None
            row = [("%.6g" % r[k]) if isinstance(r[k], float) else r[k]
                   for k in cols]
            row += (["%.4g" % c["ratio"], "%.4g" % c["lo"], "%.4g" % c["hi"],
                     c["verdict"]] if c else ["", "", "", ""])
            w.writerow(row)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=sorted(MODES), default="quick")
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--out", required=True,
                    help="report folder: benchmarks.md and bench/ go there")
    ap.add_argument("--only", default="",
                    help="comma-separated groups (%s; also %s, which are "
                    "not in the default plan)" % (", ".join(GROUPS),
                                                  ", ".join(EXTRA_GROUPS)))
    ap.add_argument("--peers", default="", help="comma-separated peers")
    ap.add_argument("--rounds", type=int, default=0)
    a = ap.parse_args()

    cfg = dict(MODES[a.mode])
    if a.rounds:
        cfg["rounds"] = a.rounds
    want = set(filter(None, a.peers.split(",")))
    if want:
        want.add("tpool")
    groups = [g for g in filter(None, a.only.split(","))] or list(GROUPS)
    bad = [g for g in groups if g not in GROUPS + EXTRA_GROUPS]
    if bad:
        raise SystemExit("bench: unknown group(s): %s" % ", ".join(bad))
    pools, queues, natives, skipped = find_peers(a.build, want)
    for name, reason in skipped:
        log("bench: peer %s skipped: %s" % (name, reason))
    if not any(p.name == "tpool" for p in pools):
        log("bench: warning: tpool itself is not among the peers")
    log("bench: %s mode, %d rounds; peers: %s; queues: %s; native: %s"
        % (a.mode, cfg["rounds"], ", ".join(p.name for p in pools),
           ", ".join(q.name for q in queues),
           ", ".join(p.name for p in natives) or "none"))

    machine = machine_info(a.build)
    cells = make_plan(cfg, pools, queues, natives, groups)
    t0 = time.monotonic()
    runs, failures = run_plan(cells, cfg["rounds"], cfg["timeout"])
    duration = time.monotonic() - t0
    machine["load_after"] = list(os.getloadavg())
    machine["during"] = load_summary(runs)

    results = aggregate(runs)
    comps = comparisons(results)
    data = {
        "mode": a.mode,
        "machine": machine,
        "duration_s": round(duration, 1),
        "groups": groups,
        "config": cfg,
        "peers": [p.describe() for p in pools + queues + natives],
        "skipped": [{"peer": n, "reason": r} for n, r in skipped],
        "failures": failures,
        "results": results,
        "comparisons": comps,
        "runs": runs,
    }
    bench_dir = os.path.join(a.out, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    with open(os.path.join(bench_dir, "results.json"), "w") as f:
        write_json(f, data)
    write_csv(os.path.join(bench_dir, "results.csv"), results, comps)
    md = report.render(data, a.out)
    log("bench: %d measurements in %s; results in %s, report %s"
        % (len(runs), fmt_duration(duration), bench_dir, md))
    d = machine["during"]
    if runs and d.get("disturbed", 0) > len(runs) // 4:
        log("bench: note: %d of %d measurements ran while other processes "
            "used the CPU; the ranges are wider than on a quiet machine"
            % (d["disturbed"], len(runs)))
    if failures:
        log("bench: %d measurement(s) FAILED:" % len(failures))
        for f_ in failures:
            log("bench:   %s %s: %s" % (f_["peer"], " ".join(
                f_["command"][-8:]), f_["error"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
