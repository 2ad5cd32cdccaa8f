#!/usr/bin/env python3
"""report.py - renders the benchmark report from results.json.

    python3 bench/report.py DIR/bench/results.json DIR

writes DIR/benchmarks.md and its charts DIR/bench/*.svg.  bench.py calls
render() at the end of a run; running this file again re-renders a report
from saved results (after a change of wording, say) without measuring.

Every figure is shown as median [min–max] over the rounds, and every
comparison as tpool's ratio to the peer with its range: the ratio of the
medians, and the least and most favourable pairings of the two ranges.
Where the two ranges overlap, the report says "no clear difference"
rather than a winner.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import svg  # noqa: E402

ORDER = ["tpool", "tpool-fj", "tpool-inplace", "tpool-fj-native",
         "baseline", "glib", "libuv", "tbb", "tbb-group", "openmp",
         "openmp-llvm", "lace", "python", "sequential", "mutex"]

# Peers that tpool must beat at single submits (the common path).
OUTSIDE_PEERS = ["glib", "libuv", "tbb"]


def compare(tp, other):
    """tpool's ratio to a peer, oriented so that > 1 means tpool is better
    (peer / tpool for lower-is-better figures, tpool / peer otherwise): the
    ratio of the medians and its range from the two min-max ranges (the
    least and the most favourable pairing).  "no clear difference" when the
    two ranges overlap (the ratio's range contains 1)."""
    if tp is None or other is None:
        return None
    lower = tp["better"] == "lower"

    def r(a, b):  # a: tpool's figure, b: the peer's
        if a <= 0 or b <= 0:
            return None
        return b / a if lower else a / b
    med = r(tp["median"], other["median"])
    if lower:
        worst, best = r(tp["max"], other["min"]), r(tp["min"], other["max"])
    else:
        worst, best = r(tp["min"], other["max"]), r(tp["max"], other["min"])
    if med is None or worst is None or best is None:
        return None
    if worst > 1:
        verdict = "tpool better"
    elif best < 1:
        verdict = "peer better"
    else:
        verdict = "no clear difference"
    return {"ratio": med, "lo": worst, "hi": best, "verdict": verdict}


class Results:
    def __init__(self, data):
        self.data = data
        self.cfg = data["config"]
        self.rows = {}
        for r in data["results"]:
            self.rows[(r["group"], r["variant"], r["peer"], r["threads"],
                       r["metric"])] = r
        self.peers = {p["name"]: p for p in data["peers"]}

    def get(self, group, variant, peer, threads, metric):
        return self.rows.get((group, variant, peer, threads, metric))

    def peers_in(self, group, variant, metric):
        names = {p for (g, v, p, _, m) in self.rows
                 if (g, v, m) == (group, variant, metric)}
        return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER
                                            else 99, n))

    def threads_in(self, group, variant, metric):
        return sorted({t for (g, v, _, t, m) in self.rows
                       if (g, v, m) == (group, variant, metric)})


# ---------------------------------------------------------------------------
# Formatting


def num(v, unit=""):
    if v is None:
        return "–"
    if unit == "items/s":
        return "%.2f M" % (v / 1e6)
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 0.1:
        return "%.2f" % v
    return "%.3f" % v


def fig(row):
    """'median [min–max]'."""
    if row is None:
        return "n/a"
    s = num(row["median"], row["unit"])
    if row["reps"] > 1:
        s += " [%s–%s]" % (num(row["min"], row["unit"]),
                           num(row["max"], row["unit"]))
    return s


def fr(r):
    return "×%.2f" % r if r < 10 else "×%.0f" % r


def ratio_cell(c):
    """'**×1.52** [1.31–1.77]', or with '(no clear difference)'."""
    if c is None:
        return ""
    rng = "[%s–%s]" % (fr(c["lo"])[1:], fr(c["hi"])[1:])
    if c["verdict"] == "no clear difference":
        return "%s %s no clear difference" % (fr(c["ratio"]), rng)
    return "**%s** %s" % (fr(c["ratio"]), rng)


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---" if i == 0 else "---:"
                          for i in range(len(headers))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out) + "\n"


def workers(t):
    return "%d worker%s" % (t, "" if t == 1 else "s")


def minutes(s):
    s = int(round(s))
    return "%d min %02d s" % (s // 60, s % 60) if s >= 60 else "%d s" % s


# ---------------------------------------------------------------------------
# Charts


def chart(res, path, title, ylabel, group, variant, metric, peers, groups,
          logy=True):
    """Bars of the medians with min-max whiskers; groups: [(label,
    threads)]."""
    med, lo, hi = [], [], []
    for _, t in groups:
        rows = [res.get(group, variant, p, t, metric) for p in peers]
        med.append([r["median"] if r else None for r in rows])
        lo.append([r["min"] if r else None for r in rows])
        hi.append([r["max"] if r else None for r in rows])
    with open(path, "w") as f:
        f.write(svg.bar_chart(title, ylabel, [g for g, _ in groups], peers,
                              med, ORDER, logy=logy, lows=lo, highs=hi))


def ratio_chart(path, title, groups, peers, comps):
    """tpool's ratio to each peer, with its range; comps[(peer, key)]."""
    med, lo, hi = [], [], []
    for _, key in groups:
        cs = [comps.get((p, key)) for p in peers]
        med.append([c["ratio"] if c else None for c in cs])
        lo.append([c["lo"] if c else None for c in cs])
        hi.append([c["hi"] if c else None for c in cs])
    with open(path, "w") as f:
        f.write(svg.bar_chart(title, "tpool's ratio (> 1: tpool better)",
                              [g for g, _ in groups], peers, med, ORDER,
                              logy=True, lows=lo, highs=hi,
                              reference=("×1: equal", 1.0), bar_from=1.0))


# ---------------------------------------------------------------------------
# Sections


def dagger(res, name, batch=False):
    p = res.peers.get(name, {})
    if batch and p.get("batch_waiter_runs"):
        return name + " †"
    if not batch and p.get("waiter_runs_tasks"):
        return name + " †"
    return name


def submit_section(res, bench_dir, w, group, variant, title, intro):
    metric = "ns_per_task"
    peers = res.peers_in(group, variant, metric)
    if not peers:
        return
    ts = res.threads_in(group, variant, metric)
    w("## %s\n\n%s\n\n" % (title, intro))
    chart(res, os.path.join(bench_dir, "%s.svg" % group),
          "%s: ns per task (log scale)" % title, "ns per task", group,
          variant, metric, peers, [(workers(t), t) for t in ts])
    w("![%s](bench/%s.svg)\n\n" % (title, group))
    comps = {}
    rows = []
    for p in peers:
        row = [dagger(res, p, batch=(group == "batch"))]
        for t in ts:
            r = res.get(group, variant, p, t, metric)
            c = compare(res.get(group, variant, "tpool", t, metric), r) \
                if p != "tpool" else None
            if c:
                comps[(p, t)] = c
            row += [fig(r), "" if p == "tpool" else ratio_cell(c)]
        rows.append(row)
    hdr = ["peer"]
    for t in ts:
        hdr += ["%s: ns/task" % workers(t), "tpool's ratio"]
    w(table(hdr, rows))
    others = [p for p in peers if p != "tpool"]
    if others and comps:
        ratio_chart(os.path.join(bench_dir, "%s_ratio.svg" % group),
                    "%s: tpool's ratio to each peer" % title,
                    [(workers(t), t) for t in ts], others, comps)
        w("\n![tpool's ratio, %s](bench/%s_ratio.svg)\n" % (title, group))
    w("\n")


def batch_section(res, bench_dir, w):
    metric = "ns_per_task"
    peers = res.peers_in("batch", "batch", metric)
    if not peers:
        return
    ts = res.threads_in("batch", "batch", metric)
    cfg = res.cfg
    w("## Batches against bulk constructs\n\n")
    w("The same %s empty tasks handed over 1,024 at a time through each "
      "peer's batch or bulk construct, then a wait for all: tpool "
      "`tp_submit_batch`; the naive pool appends a chain of jobs under one "
      "lock; oneTBB runs `parallel_for` over each batch; both OpenMPs run "
      "`taskloop nogroup` over each batch (the runtime picks the chunks). "
      "A bulk construct does not make a task object per job, so this is "
      "the comparison a batch submit has to survive. † The caller takes "
      "part in running the loop (oneTBB's arena slot, OpenMP's single "
      "thread). Peers without a batch call appear with their single "
      "submits, marked *single*, and tpool's own single submits are the "
      "first row.\n\n" % "{:,}".format(cfg["empty_n"]))
    chart(res, os.path.join(bench_dir, "batch.svg"),
          "Batches: ns per task (log scale)", "ns per task", "batch",
          "batch", metric, peers, [(workers(t), t) for t in ts])
    w("![batches](bench/batch.svg)\n\n")
    rows = []
    comps = {}

    def add(label, getter, comp_key=None):
        row = [label]
        for t in ts:
            r = getter(t)
            tp = res.get("batch", "batch", "tpool", t, metric)
            c = compare(tp, r) if r is not tp else None
            if c and comp_key:
                comps[(comp_key, t)] = c
            row += [fig(r), ratio_cell(c)]
        rows.append(row)
    add("tpool *single*", lambda t: res.get("single", "single", "tpool", t,
                                            metric))
    for p in peers:
        add(dagger(res, p, batch=True),
            lambda t, p=p: res.get("batch", "batch", p, t, metric), p)
    for p in res.peers_in("single", "single", metric):
        if p not in peers:
            add(dagger(res, p) + " *single*",
                lambda t, p=p: res.get("single", "single", p, t, metric))
    hdr = ["peer"]
    for t in ts:
        hdr += ["%s: ns/task" % workers(t), "tpool batch's ratio"]
    w(table(hdr, rows))
    others = [p for p in peers if p != "tpool"]
    if others and comps:
        ratio_chart(os.path.join(bench_dir, "batch_ratio.svg"),
                    "Batches: tpool's ratio to each bulk construct",
                    [(workers(t), t) for t in ts], others, comps)
        w("\n![tpool's ratio, batches](bench/batch_ratio.svg)\n")
    w("\n")


def memory_section(res, bench_dir, w):
    peers = res.peers_in("memory", "task", "rss_bytes")
    if not peers:
        return
    cfg = res.cfg
    w("## Memory per queued task\n\n")
    w("A pool of one worker, blocked by a first task, receives %s more "
      "(Python: %s): the growth of the resident set (RSS, from "
      "/proc/self/statm) divided by the number of queued tasks; malloc's "
      "bytes in use (`mallinfo2`) in the last columns. *task*: plain "
      "submits; *+ future*: a future or handle per task that the caller "
      "can wait on, the caller's handle storage included. Lower is "
      "better. oneTBB allocates from its own allocator (malloc sees "
      "little); both OpenMPs run tasks inline once their queue is full, so "
      "a deep queue cannot be built (not measured).\n\n"
      % ("{:,}".format(cfg["memory_n"]), "{:,}".format(cfg["memory_py"])))
    vs = [("task", "queued task"), ("future", "queued task + future")]
    med, lo, hi = [], [], []
    for v, _ in vs:
        rows = [res.get("memory", v, p, 1, "rss_bytes") for p in peers]
        med.append([r["median"] if r else None for r in rows])
        lo.append([r["min"] if r else None for r in rows])
        hi.append([r["max"] if r else None for r in rows])
    with open(os.path.join(bench_dir, "memory.svg"), "w") as f:
        f.write(svg.bar_chart("Bytes per queued task (RSS growth, log "
                              "scale)", "bytes", [x for _, x in vs], peers,
                              med, ORDER, logy=True, lows=lo, highs=hi))
    w("![memory per task](bench/memory.svg)\n\n")
    rows = []
    for p in peers:
        row = [p]
        for v, _ in vs:
            r = res.get("memory", v, p, 1, "rss_bytes")
            tp = res.get("memory", v, "tpool", 1, "rss_bytes")
            c = compare(tp, r) if p != "tpool" else None
            row += [fig(r), "" if p == "tpool" else ratio_cell(c)]
        for v, _ in vs:
            h = res.get("memory", v, p, 1, "heap_bytes")
            row.append(num(h["median"]) if h else "–")
        rows.append(row)
    w(table(["peer", "task: bytes", "tpool's ratio", "+ future: bytes",
             "tpool's ratio", "malloc, task", "malloc, + future"], rows))
    w("\n")


def queue_section(res, bench_dir, w):
    peers = res.peers_in("queue", "1x1", "items_per_s")
    if not peers:
        return
    cfg = res.cfg
    mixes = ["%dx%d" % tuple(c) for c in cfg["queue_configs"]]
    w("## tp_queue\n\n")
    w("Producers x consumers threads pass %s items through one unbounded "
      "FIFO queue; each consumer takes the same share. Items per second "
      "(millions), higher is better: tp_queue (`tp_queue_put` / "
      "`tp_queue_get`, no timeout) against GLib's GAsyncQueue and a plain "
      "ring buffer behind a mutex and a condition variable (`mutex`).\n\n"
      % "{:,}".format(cfg["queue_n"]))
    med, lo, hi = [], [], []
    for m, (prod, _) in zip(mixes, cfg["queue_configs"]):
        rows = [res.get("queue", m, q, prod, "items_per_s") for q in peers]
        med.append([r["median"] if r else None for r in rows])
        lo.append([r["min"] if r else None for r in rows])
        hi.append([r["max"] if r else None for r in rows])
    with open(os.path.join(bench_dir, "queue.svg"), "w") as f:
        f.write(svg.bar_chart("Queue throughput", "items per second",
                              mixes, peers, med, ORDER, lows=lo, highs=hi))
    w("![queue throughput](bench/queue.svg)\n\n")
    rows = []
    for q in peers:
        row = [{"tpool": "tp_queue"}.get(q, q)]
        for m, (prod, _) in zip(mixes, cfg["queue_configs"]):
            r = res.get("queue", m, q, prod, "items_per_s")
            tp = res.get("queue", m, "tpool", prod, "items_per_s")
            row += [fig(r), "" if q == "tpool" else ratio_cell(compare(tp,
                                                                     r))]
        rows.append(row)
    hdr = ["queue"]
    for m in mixes:
        hdr += ["%s: items/s" % m, "tp_queue's ratio"]
    w(table(hdr, rows))
    w("\n")


FJ_ROWS = [
    ("tpool", "suite", "tp_submit_future + tp_future_get"),
    ("tpool-inplace", "suite", "tp_submit_inplace + tp_future_get"),
    ("tpool-fj", "suite", "tp_spawn / tp_sync (reference of the suite)"),
    ("tbb-group", "suite", "oneTBB task_group"),
    ("openmp", "suite", "OpenMP task + taskwait, libgomp"),
    ("openmp-llvm", "suite", "OpenMP task + taskwait, LLVM libomp"),
    ("tpool-fj-native", "native", "tp_spawn / tp_sync (reference of "
     "native)"),
    ("lace", "native", "Lace SPAWN / SYNC"),
]


def forkjoin_section(res, bench_dir, w):
    cfg = res.cfg
    if not any(res.peers_in("forkjoin", "fib%d" % n, "ns_per_task")
               for n in cfg["fib"]):
        return
    w("## Fork-join\n\n")
    w("fib(n) where every call with n ≥ 2 spawns fib(n-1) as a task, "
      "computes fib(n-2) itself and waits for the child: fib(n+1) tasks. "
      "*suite* rows go through the benchmark's adapters (bench/workloads.c: "
      "one spawn and one join through a function pointer per call) and are "
      "compared with tpool's `tp_spawn`/`tp_sync` adapter; *native* rows "
      "are fib written directly against the runtime's API "
      "(bench/fj_fib.c, bench/fj_fib_lace.c, built by bench/fj.sh) and are "
      "compared with each other. Lace's idle workers spin (they keep every "
      "core busy between tasks), tpool's sleep. The naive pool, GLib, libuv "
      "and Python have no wait that runs other tasks, so a task waiting "
      "for its child would hold a worker: not applicable.\n\n")
    for n in cfg["fib"]:
        v = "fib%d" % n
        peers = [p for p, _, _ in FJ_ROWS
                 if res.peers_in("forkjoin", v, "ns_per_task").count(p)]
        ts_workers = [t for t in res.threads_in("forkjoin", v,
                                                "ns_per_task")
                      if any(res.get("forkjoin", v, p, t, "ns_per_task")
                             for p in peers)]
        seq = res.get("forkjoin", v, "sequential", 1, "total_ms")
        tasks = next((r for r in (res.get("forkjoin", v, p, t, "tasks")
                                  for p in peers for t in ts_workers) if r),
                     None)
        w("### fib(%d)%s\n\n" % (n, ": %s tasks" % "{:,}".format(
            int(tasks["median"])) if tasks else ""))
        chart(res, os.path.join(bench_dir, "forkjoin_%s.svg" % v),
              "Fork-join fib(%d): ns per task (log scale)" % n,
              "ns per task", "forkjoin", v, "ns_per_task", peers,
              [(workers(t), t) for t in ts_workers])
        w("![fork-join fib(%d)](bench/forkjoin_%s.svg)\n\n" % (n, v))
        rows = []
        for p, kind, what in FJ_ROWS:
            if p not in peers:
                continue
            ref = "tpool-fj-native" if kind == "native" else "tpool-fj"
            row = [p, kind, what]
            for t in ts_workers:
                r = res.get("forkjoin", v, p, t, "ns_per_task")
                tp = res.get("forkjoin", v, ref, t, "ns_per_task")
                row += [fig(r), "" if p.startswith("tpool") else
                        ratio_cell(compare(tp, r))]
            rows.append(row)
        hdr = ["", "kind", "what"]
        for t in ts_workers:
            hdr += ["%s: ns/task" % workers(t), "tpool's ratio"]
        w(table(hdr, rows))
        if seq is not None:
            w("\nSequential fib(%d) (plain recursion, no tasks): %s ms.\n"
              % (n, fig(seq)))
        w("\n")


def extras_section(res, w):
    lat = res.peers_in("latency", "", "p50_us")
    if lat:
        w("## Sporadic latency\n\n")
        w("One task at a time to an idle pool, ~%d µs apart: µs from the "
          "submit until the waiting thread has the result (tpool: "
          "`tp_submit_future` + `tp_future_get`). † The waiting thread may "
          "run the task itself.\n\n" % res.cfg["latency_gap_us"])
        rows = []
        for p in lat:
            for t in res.threads_in("latency", "", "p50_us"):
                rows.append([dagger(res, p), str(t)] + [
                    fig(res.get("latency", "", p, t, q + "_us"))
                    for q in ("p50", "p90", "p99")])
        w(table(["peer", "workers", "p50 µs", "p90 µs", "p99 µs"], rows))
        w("\n")
    idle = res.peers_in("idle", "", "cpu_ms")
    if idle:
        w("## Idle CPU\n\n")
        w("A pool runs 10,000 empty tasks, then sits idle for %s ms: the "
          "process's CPU time meanwhile (`getrusage`). A pool that spins "
          "to buy throughput shows hundreds of ms here.\n\n"
          % "{:,}".format(res.cfg["idle_ms"]))
        rows = []
        for p in idle:
            for t in res.threads_in("idle", "", "cpu_ms"):
                rows.append([p, str(t), fig(res.get("idle", "", p, t,
                                                    "cpu_ms"))])
        w(table(["peer", "workers", "CPU ms"], rows))
        w("\n")


# ---------------------------------------------------------------------------
# Goals


def goal_verdict(lo, hi, target):
    """Whether a ratio (or a figure) range meets `target` (a lower bound
    on the ratio)."""
    if lo >= target:
        return "met"
    if hi < target:
        return "not met"
    return "unclear (the range straddles it)"


def goals_section(res, w):
    rows = []
    T = res.cfg["threads"]
    for group, variant, what, me in (
            ("single", "single", "single submits", "tpool"),
            ("future", "future", "single submits with a future each",
             "tpool"),
            ("future", "future", "the same, futures in caller storage "
             "(`tp_submit_inplace`)", "tpool-inplace")):
        for t in T:
            tp = res.get(group, variant, me, t, "ns_per_task")
            c = compare(tp, res.get(group, variant, "baseline", t,
                                    "ns_per_task"))
            if c:
                rows.append(["%s, %s: ≤ 0.5 × the naive pool's time"
                             % (what, workers(t)), ratio_cell(c),
                             goal_verdict(c["lo"], c["hi"], 2.0)])
            for p in OUTSIDE_PEERS:
                c = compare(tp, res.get(group, variant, p, t, "ns_per_task"))
                if c:
                    rows.append(["%s, %s: ahead of %s" % (what, workers(t),
                                                          p),
                                 ratio_cell(c),
                                 goal_verdict(c["lo"], c["hi"], 1.0)])
    for v, limit in (("task", 40), ("future", 80)):
        r = res.get("memory", v, "tpool", 1, "rss_bytes")
        if r:
            # a figure: met when even the largest repetition is within
            verdict = "met" if r["max"] <= limit else (
                "not met" if r["min"] > limit else
                "unclear (the range straddles it)")
            rows.append(["bytes per queued task%s: ≤ %d B" % (
                " + future" if v == "future" else "", limit),
                fig(r) + " B", verdict])
    for prod, cons in res.cfg["queue_configs"]:
        m = "%dx%d" % (prod, cons)
        tp = res.get("queue", m, "tpool", prod, "items_per_s")
        for q, target, what in (("mutex", 1.0, "≥ the mutex + condvar ring"),
                                ("glib", 1.5, "≥ 1.5 × GAsyncQueue")):
            c = compare(tp, res.get("queue", m, q, prod, "items_per_s"))
            if c:
                rows.append(["tp_queue %s: %s" % (m, what), ratio_cell(c),
                             goal_verdict(c["lo"], c["hi"], target)])
    if not rows:
        return
    w("## Goals\n\n")
    w("The goals set for the common path, each with the measured ratio "
      "(median [range], > 1: tpool better) or figure. *Met* means the whole "
      "range meets it, *not met* that none of it does.\n\n")
    w(table(["goal", "measured", "verdict"], rows))
    w("\n")


# ---------------------------------------------------------------------------


def render(data, out_dir):
    res = Results(data)
    m = data["machine"]
    cfg = data["config"]
    d = m.get("during", {})
    bench_dir = os.path.join(out_dir, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    for name in os.listdir(bench_dir):  # charts of an earlier run
        if name.endswith(".svg"):
            os.remove(os.path.join(bench_dir, name))
    md = []
    w = md.append

    w("# tpool benchmarks\n\n")
    w("Generated by `make bench` (`bench/run.sh %s`) on %s, %s of "
      "measuring. Every figure: [bench/results.json](bench/results.json) "
      "(each run, with the load it met) and "
      "[bench/results.csv](bench/results.csv) (median, min, max, ratios)."
      "\n\n" % (data["mode"], m["date"], minutes(data["duration_s"])))
    loaded = d.get("load_median", 0) >= 0.5 * m["cores"] or \
        d.get("disturbed", 0) > d.get("runs", 1) // 4
    w("> **%s.** %d cores; load average (1 min) %s–%s, median %s, during "
      "the runs; other processes used a median of %s and at most %s "
      "cores meanwhile; %d of %d runs overlapped with more than a tenth "
      "of a core of other work. The absolute figures are of this machine "
      "in this state; the ratios, taken in the same run with the rounds "
      "interleaved, are the claim, and where the ranges overlap the "
      "report says so.\n\n"
      % ("The machine was loaded" if loaded else "The machine was quiet",
         m["cores"], num(d.get("load_min")), num(d.get("load_max")),
         num(d.get("load_median")), num(d.get("others_cores_median")),
         num(d.get("others_cores_max")), d.get("disturbed", 0),
         d.get("runs", 0)))

    w("## How it was measured\n\n")
    w("- **%d rounds.** Each round runs every measurement of the plan once, "
      "all workloads and peers mixed in a new random order; each "
      "measurement is a fresh process that warms up (a run a tenth the "
      "size) before it measures. A cell is `median [min–max]` over the "
      "rounds.\n" % cfg["rounds"])
    w("- **Normal priority.** Nothing is reniced or given a real-time "
      "class (the runs had nice %d, the value bench.py was started with); "
      "no peer is pinned.\n" % m.get("nice", 0))
    w("- **Ratios** are tpool's to the peer, oriented so that **> 1 means "
      "tpool is better** (peer/tpool for times and bytes, tpool/peer for "
      "throughput): the ratio of the medians, then [least–most "
      "favourable], from pairing the two min-max ranges. **No clear "
      "difference**: the two ranges overlap (the ratio's range contains "
      "1); such a ratio is not a win or a loss. A bold ratio has ranges "
      "that do not overlap.\n")
    w("- The charts show the medians as bars and the min–max ranges as "
      "whiskers; the ratio charts show tpool's ratio to each peer with its "
      "range, and a line at ×1.\n")
    w("- *Workers*: the pool's threads. † marks peers whose submitting "
      "thread is one of the pool's threads and runs tasks itself while it "
      "waits (both OpenMPs: the tasks are created in an `omp single`; "
      "in batches also oneTBB's parallel_for): they do not hand work from "
      "an outside thread, which is what the other peers are measured on, "
      "and libgomp even runs a new task at once once 64 per thread are "
      "queued.\n\n")

    w("## Machine\n\n")
    lb, la = m.get("load_before", [0, 0, 0]), m.get("load_after", [0, 0, 0])
    w(table(["", ""], [
        ["CPU", m["cpu"]], ["cores", str(m["cores"])],
        ["memory", m.get("memory", "")], ["OS", m.get("os", "")],
        ["kernel", m["kernel"]], ["C compiler", m.get("compiler", "")],
        ["C++ compiler", m.get("cxx_compiler", "")],
        ["clang (LLVM OpenMP)", m.get("clang", "") or "–"],
        ["Python", m.get("python", "")], ["date", m["date"]],
        ["load average 1/5/15 min, before", " / ".join(num(x) for x in lb)],
        ["load average 1/5/15 min, after", " / ".join(num(x) for x in la)],
        ["load average (1 min) during the runs", "%s–%s (median %s)" % (
            num(d.get("load_min")), num(d.get("load_max")),
            num(d.get("load_median")))],
        ["other processes' CPU during a run", "median %s cores, max %s" % (
            num(d.get("others_cores_median")),
            num(d.get("others_cores_max")))],
        ["build", "CMake Release, -O2, no sanitizer (build-bench/)"],
        ["priority", "nice %s, not changed" % m.get("nice", 0)],
    ]))
    w("\n")

    w("## Peers\n\n")
    rows = []
    for p in data["peers"]:
        name = p["name"] if p["kind"] != "queue" else "queue: " + p["name"]
        rows.append([name, p["title"], p["version"], p.get("future_form", "")
                     or "–", p.get("batch_form", "") or "–", p["notes"]])
    w(table(["peer", "what", "version", "its future (submit + get)",
             "its batch", "notes"], rows))
    if data["skipped"]:
        w("\nNot measured in this run:\n\n")
        for s in data["skipped"]:
            w("- **%s**: %s\n" % (s["peer"], s["reason"]))
    w("\n")

    goals_section(res, w)
    n = "{:,}".format(cfg["empty_n"])
    npy = "{:,}".format(cfg["empty_py"])
    submit_section(
        res, bench_dir, w, "single", "single", "Single outside submits",
        "%s empty tasks submitted one by one from a thread outside the pool "
        "(Python: %s), then a wait until all have run: wall time / tasks. "
        "Each peer waits its own way: tpool `tp_pool_wait_idle`, the naive "
        "pool its idle condition variable, GLib, oneTBB a latch (an atomic "
        "count; GThreadPool and task_arena have no wait), libuv `uv_run`, "
        "OpenMP `taskwait`, Python `wait()` on the futures." % (n, npy))
    submit_section(
        res, bench_dir, w, "future", "future",
        "Single outside submits with futures",
        "%s empty tasks submitted one by one with a future each (Python: "
        "%s), then each future's result taken in submission order: wall "
        "time / tasks. The peers without futures of their own get the "
        "cheapest correct one (the Peers table says which): an atomic word "
        "in the caller's handle that the waiter sleeps on with a futex, no "
        "mutex or condition variable per task." % (n, npy))
    batch_section(res, bench_dir, w)
    memory_section(res, bench_dir, w)
    queue_section(res, bench_dir, w)
    forkjoin_section(res, bench_dir, w)
    extras_section(res, w)

    w("## Running it\n\n")
    w("`make bench` (about %s here) installs the peers' Debian packages "
      "when they are missing and it can (root and apt-get: libglib2.0-dev, "
      "libuv1-dev, libtbb-dev, clang and libomp-dev, python3), builds "
      "build-bench/ (Release, -O2), builds Lace when LACE_SRC names a "
      "checkout of it, runs the plan and rewrites this page, its charts and "
      "docs/bench/results.*. A peer that cannot be built is listed as not "
      "measured, with the reason. `make bench-quick` runs the same plan on "
      "small sizes, 2 rounds (under 2 minutes): a smoke test of every "
      "program, report in build-bench/quick/. `python3 bench/bench.py "
      "--help` runs a subset (`--only`, `--peers`, `--rounds`), and "
      "`--only latency,idle` the two checks that no pool spins.\n"
      % minutes(data["duration_s"] + 60))
    if data["failures"]:
        w("\n## Failed measurements\n\n")
        for f in data["failures"]:
            w("- %s `%s`: %s\n" % (f["peer"], " ".join(
                os.path.basename(c) for c in f["command"]), f["error"]))
    path = os.path.join(out_dir, "benchmarks.md")
    with open(path, "w") as f:
        f.write("".join(md))
    return path


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RESULTS.json OUT_DIR")
    with open(sys.argv[1]) as f:
        data = json.load(f)
    print(render(data, sys.argv[2]))


if __name__ == "__main__":
    main()
