#!/usr/bin/env python3
"""bench.py - runs the benchmark plan and writes the results and the report.

    python3 bench/bench.py --mode quick|full --build build-bench --out DIR

It finds the peers (the tpbench-<peer> and tpqueue-<name> programs that the
build made, and Python's ThreadPoolExecutor through peer_python.py), asks
each which workloads it can run (--info), and runs every measurement as a
process of its own.  Repetitions are interleaved: for each workload, every
repetition runs all the (peer, threads) cells once, in a shuffled order, so
that whatever else the machine is doing spreads over all peers alike.
Progress goes to stderr.  A measurement during which other processes took
a noticeable share of the CPU (from /proc/stat) is run again once the
machine is quiet, up to a few times and within a time budget, since the
machine may be shared.

It writes DIR/bench/results.json (machine, peers, every run and the
aggregates: median, min, max), DIR/bench/results.csv (the aggregates) and,
through report.py, DIR/benchmarks.md with SVG charts in DIR/bench/.

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

# Sizes per mode.  "py" entries are Python's (its per-task cost is ~50x a
# C pool's, so it gets fewer tasks; figures are per task, so they compare).
MODES = {
    "quick": {
        "reps": 2, "timeout": 60, "retries": 0, "retry_budget_s": 0,
        "empty_n": 20000, "empty_py": 5000,
        "fib": [20],
        "latency_n": 200, "latency_gap_us": 200,
        "io_n": 1000, "io_threads": 100, "io_ms": 10,
        "cpu_n": 64, "cpu_work": 100000, "cpu_work_py": 1000,
        "futures_n": 10000, "futures_py": 2000,
        "queue_n": 100000, "queue_configs": [(1, 1), (2, 2), (4, 4)],
        "memory_n": 100000, "memory_py": 20000,
        "idle_ms": 200,
    },
    "full": {
        "reps": 7, "timeout": 600, "retries": 3, "retry_budget_s": 420,
        "empty_n": 1000000, "empty_py": 100000,
        "fib": [25, 30],
        "latency_n": 5000, "latency_gap_us": 200,
        "io_n": 1000, "io_threads": 100, "io_ms": 10,
        "cpu_n": 64, "cpu_work": 2000000, "cpu_work_py": 20000,
        "futures_n": 100000, "futures_py": 20000,
        "queue_n": 1000000, "queue_configs": [(1, 1), (2, 2), (4, 4)],
        "memory_n": 1000000, "memory_py": 100000,
        "idle_ms": 1000,
    },
}

# Units and direction of every figure the programs print.
METRICS = {
    "ns_per_task": ("ns", "lower"), "total_ms": ("ms", "lower"),
    "tasks": ("tasks", "none"),
    "p50_us": ("us", "lower"), "p90_us": ("us", "lower"),
    "p99_us": ("us", "lower"), "mean_us": ("us", "lower"),
    "max_us": ("us", "lower"),
    "wall_ms": ("ms", "lower"), "ideal_ms": ("ms", "none"),
    "overhead_ms": ("ms", "lower"),
    "ns_per_future": ("ns", "lower"),
    "items_per_s": ("items/s", "higher"), "ns_per_item": ("ns", "lower"),
    "heap_bytes": ("bytes", "lower"), "rss_bytes": ("bytes", "lower"),
    "cpu_ms": ("ms", "lower"), "cpu_pct": ("%", "lower"),
    "speedup": ("x", "higher"),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def thread_counts():
    """1, 2 and 4, then powers of two up to the core count, and the core
    count itself."""
    cores = len(os.sched_getaffinity(0)) if hasattr(
        os, "sched_getaffinity") else (os.cpu_count() or 1)
    ts = [1, 2, 4]
    t = 8
    while t <= cores:
        ts.append(t)
        t *= 2
    if cores not in ts:
        ts.append(cores)
    return sorted(ts), cores


# ---------------------------------------------------------------------------
# Peers


class Peer:
    def __init__(self, info, cmd, kind):
        self.name = info["peer"]
        self.title = info.get("title", self.name)
        self.version = info.get("version", "")
        self.notes = info.get("notes", "")
        self.workloads = set(info.get("workloads", []))
        self.batch = info.get("batch", False)
        self.nested_join = info.get("nested_join", False)
        self.waiter_runs_tasks = info.get("waiter_runs_tasks", False)
        self.cmd = cmd
        self.kind = kind  # "pool" or "queue"

    def describe(self):
        return {"name": self.name, "title": self.title,
                "version": self.version, "notes": self.notes,
                "kind": self.kind, "workloads": sorted(self.workloads),
                "batch": self.batch, "nested_join": self.nested_join,
                "waiter_runs_tasks": self.waiter_runs_tasks}


def find_peers(build, want):
    """Returns (pool peers, queue peers, skipped [(name, reason)])."""
    bdir = os.path.join(build, "bench")
    manifest = os.path.join(bdir, "peers.tsv")
    pools, queues, skipped = [], [], []
    if not os.path.exists(manifest):
        raise SystemExit("bench: %s missing: configure with TPOOL_BENCH=ON"
                         % manifest)
    with open(manifest) as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for status, exe, reason in rows:
        kind = "queue" if exe.startswith("tpqueue-") else "pool"
        name = exe.split("-", 1)[1]
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
    order = ["tpool", "tpool-inplace", "tpool-fj", "baseline", "glib",
             "libuv", "openmp", "tbb", "python"]
    key = lambda p: (order.index(p.name) if p.name in order else 99, p.name)  # noqa: E731
    return sorted(pools, key=key), sorted(queues, key=key), skipped


# ---------------------------------------------------------------------------
# Plan


class Cell:
    """One measurement: a program, a workload and its arguments."""

    def __init__(self, peer, workload, label=None, **args):
        self.peer = peer
        self.label = label or peer.name  # name in the results
        self.workload = workload
        self.args = args

    def command(self):
        cmd = list(self.peer.cmd) + [self.workload]
        for k, v in self.args.items():
            if v not in (None, ""):
                cmd += ["--" + k.replace("_", "-"), str(v)]
        return cmd

    def describe(self):
        parts = ["%s=%s" % (k, v) for k, v in self.args.items()
                 if k in ("variant", "threads", "n", "producers",
                          "consumers") and v not in (None, "")]
        return "%-9s %s" % (self.label, " ".join(parts))


class Group:
    def __init__(self, gid, title, reps):
        self.id, self.title, self.reps, self.cells = gid, title, reps, []


def make_plan(cfg, pools, queues, threads, only):
    reps = cfg["reps"]
    groups = []
    by = lambda w: [p for p in pools if w in p.workloads]  # noqa: E731
    cpeers = [p for p in pools if p.name != "python"]
    seq_peer = cpeers[0] if cpeers else None

    def want(gid):
        return not only or gid.split("/")[0] in only or gid in only

    if want("empty"):
        g = Group("empty/single", "empty tasks, one submit per task", reps)
        for p in by("empty"):
            n = cfg["empty_py"] if p.name == "python" else cfg["empty_n"]
            for t in threads:
                g.cells.append(Cell(p, "empty", variant="single", threads=t,
                                    n=n))
        groups.append(g)
        g = Group("empty/batch", "empty tasks, batch submits", reps)
        for p in by("empty"):
            if p.batch:
                for t in threads:
                    g.cells.append(Cell(p, "empty", variant="batch",
                                        threads=t, n=cfg["empty_n"]))
        groups.append(g)
    if want("forkjoin"):
        for fib in cfg["fib"]:
            g = Group("forkjoin/fib%d" % fib, "fork-join fib(%d)" % fib,
                      reps)
            for p in by("forkjoin"):
                for t in threads:
                    g.cells.append(Cell(p, "forkjoin", threads=t, n=fib))
            if seq_peer is not None:
                g.cells.append(Cell(seq_peer, "seqfib", label="sequential",
                                    n=fib))
            groups.append(g)
    if want("latency"):
        g = Group("latency", "sporadic latency", max(reps - 2, 1))
        for p in by("latency"):
            for t in threads:
                g.cells.append(Cell(p, "latency", threads=t,
                                    n=cfg["latency_n"],
                                    gap_us=cfg["latency_gap_us"]))
        groups.append(g)
    if want("io"):
        g = Group("io", "I/O-bound tasks", reps)
        for p in by("io"):
            g.cells.append(Cell(p, "io", threads=cfg["io_threads"],
                                n=cfg["io_n"], ms=cfg["io_ms"]))
        groups.append(g)
    if want("cpu"):
        g = Group("cpu", "CPU-bound tasks", reps)
        for p in by("cpu"):
            work = cfg["cpu_work_py"] if p.name == "python" else cfg[
                "cpu_work"]
            for t in threads:
                g.cells.append(Cell(p, "cpu", threads=t, n=cfg["cpu_n"],
                                    work=work))
            if p.name == "python":
                g.cells.append(Cell(p, "seqcpu", n=cfg["cpu_n"], work=work))
        if seq_peer is not None:
            g.cells.append(Cell(seq_peer, "seqcpu", label="sequential",
                                n=cfg["cpu_n"], work=cfg["cpu_work"]))
        groups.append(g)
    if want("futures"):
        g = Group("futures", "many futures, as completed", reps)
        for p in by("futures"):
            n = cfg["futures_py"] if p.name == "python" else cfg["futures_n"]
            for t in threads:
                g.cells.append(Cell(p, "futures", threads=t, n=n))
        groups.append(g)
    if want("queue"):
        g = Group("queue", "MPMC queue throughput", reps)
        for q in queues:
            for prod, cons in cfg["queue_configs"]:
                g.cells.append(Cell(q, "queue", producers=prod,
                                    consumers=cons, n=cfg["queue_n"]))
        groups.append(g)
    if want("memory"):
        g = Group("memory", "memory per queued task", min(reps, 2))
        for p in by("memory"):
            n = cfg["memory_py"] if p.name == "python" else cfg["memory_n"]
            for v in ("task", "future"):
                g.cells.append(Cell(p, "memory", variant=v, n=n))
        groups.append(g)
    if want("idle"):
        g = Group("idle", "idle CPU use", min(reps, 3))
        for p in by("idle"):
            g.cells.append(Cell(p, "idle", threads=max(threads),
                                ms=cfg["idle_ms"]))
        groups.append(g)
    return [g for g in groups if g.cells]


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
    record notes how much CPU time other processes used meanwhile."""
    cmd = cell.command()
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
    rec["peer"] = cell.label
    wall = time.monotonic() - t0
    b1, c1 = busy_seconds(), children_seconds()
    if b0 is not None and b1 is not None:
        rec["others_cpu_s"] = round(max(b1 - b0 - (c1 - c0), 0.0), 3)
        rec["wall_s"] = round(wall, 3)
    return rec, None


def wait_quiet(limit):
    """Waits (up to `limit` seconds) for a second in which the machine is
    less than 10% busy; returns whether it came."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        b0 = busy_seconds()
        time.sleep(1.0)
        b1 = busy_seconds()
        if b0 is None or b1 is None or b1 - b0 < 0.1:
            return True
    return False


def disturbed(rec):
    """Whether other processes used a noticeable share of the CPU while this
    ran (more than 10% of one core, above the 10 ms tick resolution)."""
    if "others_cpu_s" not in rec:
        return False
    return rec["others_cpu_s"] > 0.1 * rec["wall_s"] + 0.02


def headline_figure(rec):
    m = rec["metrics"]
    for key in ("ns_per_task", "p50_us", "wall_ms", "ns_per_future",
                "items_per_s", "rss_bytes", "cpu_ms"):
        if key in m:
            unit = METRICS[key][0]
            v = m[key]
            return "%s %s" % (("%.4g" % v), unit)
    return ""


def fmt_duration(s):
    s = int(s)
    return "%dm%02ds" % (s // 60, s % 60) if s >= 60 else "%ds" % s


def run_plan(groups, timeout, retries, retry_budget):
    """Runs every group's cells, repetitions interleaved.  A measurement
    during which other processes used the CPU is run again (up to
    `retries` times, after a pause, while the time spent on discarded
    attempts stays under `retry_budget` seconds); the last attempt is kept
    either way and marked."""
    total = sum(len(g.cells) * g.reps for g in groups)
    runs, failures = [], []
    repeated = 0
    wasted = 0.0
    done = 0
    t_start = time.monotonic()
    for gi, g in enumerate(groups):
        log("bench: [%d/%d] %s: %d measurements x %d repetitions"
            % (gi + 1, len(groups), g.title, len(g.cells), g.reps))
        for rep in range(g.reps):
            order = list(g.cells)
            random.Random("%s/%d" % (g.id, rep)).shuffle(order)
            for cell in order:
                done += 1
                elapsed = time.monotonic() - t_start
                eta = elapsed / (done - 1) * (total - done + 1) if done > 1 \
                    else 0
                log("bench:   %4d/%d  %-16s rep %d/%d  %s  (%s, ~%s left)"
                    % (done, total, g.id, rep + 1, g.reps, cell.describe(),
                       fmt_duration(elapsed), fmt_duration(eta)))
                for attempt in range(retries + 1):
                    t_try = time.monotonic()
                    rec, err = run_cell(cell, timeout)
                    if err is not None or not disturbed(rec):
                        break
                    if attempt < retries and wasted < retry_budget:
                        repeated += 1
                        log("bench:          (other processes used %.0f ms "
                            "of CPU meanwhile: again, once it is quiet)"
                            % (rec["others_cpu_s"] * 1e3))
                        wait_quiet(min(20.0, retry_budget - wasted))
                        wasted += time.monotonic() - t_try
                    else:
                        break
                if err is not None:
                    log("bench:   FAILED %s %s: %s"
                        % (cell.label, " ".join(cell.command()[-8:]), err))
                    failures.append({"group": g.id, "peer": cell.label,
                                     "command": cell.command(),
                                     "error": err})
                    continue
                rec["group"] = g.id
                rec["rep"] = rep
                rec["attempts"] = attempt + 1
                rec["disturbed"] = disturbed(rec)
                runs.append(rec)
                log("bench:          -> %s%s" % (headline_figure(rec),
                                                 "  (disturbed)"
                                                 if rec["disturbed"] else ""))
    return runs, failures, repeated


# ---------------------------------------------------------------------------
# Aggregation


def aggregate(runs):
    """Median, min and max of every figure over the repetitions."""
    acc = {}
    for r in runs:
        key = (r["workload"], r["variant"], r["peer"], r["threads"], r["n"])
        for metric, value in r["metrics"].items():
            acc.setdefault(key + (metric,), []).append(value)
    out = []
    for (w, v, p, t, n, metric), values in sorted(acc.items(),
                                                  key=lambda kv: str(kv[0])):
        unit, better = METRICS.get(metric, ("", "none"))
        out.append({"workload": w, "variant": v, "peer": p, "threads": t,
                    "n": n, "metric": metric, "unit": unit, "better": better,
                    "median": statistics.median(values), "min": min(values),
                    "max": max(values), "reps": len(values),
                    "values": values})
    # Speed-up of the CPU-bound workload: sequential time / wall time (the
    # C peers against the C sequential run, Python against its own).
    seq = {r["peer"]: r for r in out
           if r["workload"] == "seqcpu" and r["metric"] == "wall_ms"}
    for r in list(out):
        if r["workload"] == "cpu" and r["metric"] == "wall_ms":
            base = seq.get("python" if r["peer"] == "python"
                           else "sequential")
            if base is None:
                continue
            s = base["median"]
            out.append({"workload": "cpu", "variant": r["variant"],
                        "peer": r["peer"], "threads": r["threads"],
                        "n": r["n"], "metric": "speedup", "unit": "x",
                        "better": "higher", "median": s / r["median"],
                        "min": s / r["max"], "max": s / r["min"],
                        "reps": r["reps"],
                        "values": [s / v for v in r["values"]]})
    return out


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
    cc = cxx = ""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_C_COMPILER:"):
                    cc = line.split("=", 1)[1].strip()
                elif line.startswith("CMAKE_CXX_COMPILER:"):
                    cxx = line.split("=", 1)[1].strip()
    except OSError:
        pass
    _, cores = thread_counts()
    return {
        "cpu": cpu or platform.processor() or "unknown",
        "cores": cores,
        "logical_cpus": os.cpu_count(),
        "memory": mem,
        "os": os_name or platform.system(),
        "kernel": platform.release(),
        "compiler": command_version([cc]) if cc else "",
        "cxx_compiler": command_version([cxx]) if cxx else "",
        "python": "Python " + platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "load_before": os.getloadavg()[0],
    }


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


def write_csv(path, results):
    cols = ["workload", "variant", "peer", "threads", "n", "metric", "unit",
            "better", "median", "min", "max", "reps"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in results:
            w.writerow([("%.6g" % r[c]) if isinstance(r[c], float) else r[c]
                        for c in cols])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=sorted(MODES), default="quick")
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--out", required=True,
                    help="report folder: benchmarks.md and bench/ go there")
    ap.add_argument("--only", default="",
                    help="comma-separated workloads (empty, forkjoin, "
                         "latency, io, cpu, futures, queue, memory, idle)")
    ap.add_argument("--peers", default="", help="comma-separated peers")
    ap.add_argument("--reps", type=int, default=0)
    a = ap.parse_args()

    cfg = dict(MODES[a.mode])
    if a.reps:
        cfg["reps"] = a.reps
    threads, cores = thread_counts()
    want = set(filter(None, a.peers.split(",")))
    only = set(filter(None, a.only.split(",")))
    pools, queues, skipped = find_peers(a.build, want)
    for name, reason in skipped:
        log("bench: peer %s skipped: %s" % (name, reason))
    if not any(p.name == "tpool" for p in pools):
        log("bench: warning: tpool itself is not among the peers")
    log("bench: %s mode; peers: %s; queues: %s; threads: %s"
        % (a.mode, ", ".join(p.name for p in pools),
           ", ".join(q.name for q in queues),
           ", ".join(map(str, threads))))

    # The machine may be shared: ask for a higher priority (it is inherited
    # by the measured programs) so that other processes disturb less.
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError:
        pass
    machine = machine_info(a.build)
    machine["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
    groups = make_plan(cfg, pools, queues, threads, only)
    t0 = time.monotonic()
    runs, failures, repeated = run_plan(groups, cfg["timeout"],
                                        cfg["retries"], cfg["retry_budget_s"])
    duration = time.monotonic() - t0
    machine["load_after"] = os.getloadavg()[0]

    data = {
        "mode": a.mode,
        "machine": machine,
        "duration_s": round(duration, 1),
        "threads": threads,
        "config": {k: v for k, v in cfg.items()},
        "peers": [p.describe() for p in pools + queues],
        "skipped": [{"peer": n, "reason": r} for n, r in skipped],
        "failures": failures,
        "repeated": repeated,
        "disturbed": sum(1 for r in runs if r.get("disturbed")),
        "results": aggregate(runs),
        "runs": runs,
    }
    bench_dir = os.path.join(a.out, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    with open(os.path.join(bench_dir, "results.json"), "w") as f:
        write_json(f, data)
    write_csv(os.path.join(bench_dir, "results.csv"), data["results"])
    md = report.render(data, a.out)
    log("bench: %d measurements in %s; results in %s, report %s"
        % (len(runs), fmt_duration(duration), bench_dir, md))
    if runs and data["disturbed"] > len(runs) // 4:
        log("bench: note: %d of %d measurements ran while other processes "
            "used the CPU; the figures are less reliable than usual (run "
            "again when the machine is quiet)" % (data["disturbed"],
                                                   len(runs)))
    if failures:
        log("bench: %d measurement(s) FAILED:" % len(failures))
        for f_ in failures:
            log("bench:   %s %s: %s" % (f_["peer"], " ".join(
                f_["command"][-8:]), f_["error"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
