#!/usr/bin/env python3
"""report.py - renders the benchmark report from results.json.

    python3 bench/report.py DIR/bench/results.json DIR

writes DIR/benchmarks.md and its charts DIR/bench/*.svg.  bench.py calls
render() at the end of a run; running this file again re-renders a report
from saved results (after a change of wording, say) without measuring.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import svg  # noqa: E402

WORKLOAD_NAMES = {
    "empty": "empty tasks", "forkjoin": "fork-join", "latency": "latency",
    "io": "I/O-bound", "cpu": "CPU-bound", "futures": "many futures",
    "memory": "memory", "idle": "idle CPU",
}


class Results:
    def __init__(self, data):
        self.data = data
        self.rows = {}
        # The figure that ratios and charts use: the median, or, when many
        # measurements ran while other processes used the CPU, the best
        # repetition (interference only ever makes a figure worse).
        runs = data.get("runs", [])
        noisy = runs and data.get("disturbed", 0) > len(runs) // 4
        self.estimator = "best" if noisy else "median"
        for r in data["results"]:
            if self.estimator == "median" or r["better"] == "none":
                r["est"] = r["median"]
            else:
                r["est"] = r["min"] if r["better"] == "lower" else r["max"]
            key = (r["workload"], r["variant"], r["peer"], r["threads"],
                   r["metric"])
            self.rows[key] = r
        self.threads = data["threads"]
        self.peers = {p["name"]: p for p in data["peers"]
                      if p["kind"] == "pool"}
        self.queues = [p["name"] for p in data["peers"]
                       if p["kind"] == "queue"]
        self.order = list(self.peers)
        cores = data["machine"]["cores"]
        self.head_threads = max([t for t in self.threads if t <= cores] or
                                [self.threads[0]])

    def get(self, workload, variant, peer, threads, metric):
        return self.rows.get((workload, variant, peer, threads, metric))

    def find(self, workload, variant, peer, metric):
        """The row whatever its thread count (workloads with one)."""
        for (w, v, p, _, m), r in self.rows.items():
            if (w, v, p, m) == (workload, variant, peer, metric):
                return r
        return None

    def peers_with(self, workload, variant, metric, threads=None):
        names = []
        for (w, v, p, t, m) in self.rows:
            if (w, v, m) == (workload, variant, metric) and (
                    threads is None or t == threads) and p not in names:
                names.append(p)
        order = self.order + self.queues + ["sequential"]
        return sorted(names, key=lambda n: (order.index(n) if n in order
                                            else 99, n))


# ---------------------------------------------------------------------------
# Formatting


def num(v, unit=""):
    if v is None:
        return "–"
    if unit == "items/s":
        return "%.2f M" % (v / 1e6)
    a = abs(v)
    if a >= 1000:
        s = "{:,.0f}".format(v)
    elif a >= 100:
        s = "%.0f" % v
    elif a >= 10:
        s = "%.1f" % v
    elif a >= 0.1:
        s = "%.2f" % v
    else:
        s = "%.3f" % v
    return s


def ratio(tp, other, better):
    """tpool's ratio to a peer: > 1 when tpool is better."""
    if tp is None or other is None or tp <= 0 or other <= 0:
        return None
    return other / tp if better == "lower" else tp / other


def fmt_ratio(r):
    if r is None:
        return ""
    return "×%.2f" % r if r < 10 else "×%.0f" % r


def cell(row, tp_row=None, spread=True):
    """'median [min–max] · ×ratio' (the ratio is tpool's to this row)."""
    if row is None:
        return "n/a"
    s = num(row["median"], row["unit"])
    if spread and row["reps"] > 1:
        s += " [%s–%s]" % (num(row["min"], row["unit"]),
                           num(row["max"], row["unit"]))
    if tp_row is not None and tp_row is not row:
        r = ratio(tp_row["est"], row["est"], row["better"])
        if r is not None:
            s += " · **%s**" % fmt_ratio(r)
    return s


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---" if i == 0 else "---:"
                          for i in range(len(headers))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out) + "\n"


def th(t):
    return "%d thread%s" % (t, "" if t == 1 else "s")


def peer_label(res, name):
    p = res.peers.get(name)
    if p is not None and p.get("waiter_runs_tasks"):
        return name + " †"
    return name


# ---------------------------------------------------------------------------
# Sections


def threads_table(res, workload, variant, metric, peers=None, label=None):
    """Rows: peers; columns: thread counts; cells with tpool's ratio."""
    peers = peers or res.peers_with(workload, variant, metric)
    rows = []
    for p in peers:
        cells = []
        for t in res.threads:
            tp = res.get(workload, variant, "tpool", t, metric)
            cells.append(cell(res.get(workload, variant, p, t, metric), tp))
        rows.append([(label or peer_label)(res, p)] + cells)
    return table(["peer"] + [th(t) for t in res.threads], rows)


def threads_chart(res, path, title, ylabel, workload, variant, metric,
                  logy=True, extra=None, reference=None, dashed=()):
    series = {}
    for p in res.peers_with(workload, variant, metric):
        pts = [(t, res.get(workload, variant, p, t, metric)["est"])
               for t in res.threads
               if res.get(workload, variant, p, t, metric) is not None]
        if pts:
            series[p] = pts
    if extra:
        series.update(extra)
    with open(path, "w") as f:
        f.write(svg.line_chart(title, "pool threads", ylabel, series,
                               res.order, logy=logy, reference=reference,
                               dashed=dashed))


def best_peer(res, workload, variant, metric, threads, exclude=()):
    """(name, row) of the best peer other than tpool, or (None, None)."""
    best = (None, None)
    for p in res.peers_with(workload, variant, metric, threads):
        # tpool's other fork-join paths (tpool-fj, tpool-inplace) are
        # tpool too, not peers.
        if p in ("tpool", "sequential") or p.startswith("tpool-") or \
                p in exclude:
            continue
        r = res.get(workload, variant, p, threads, metric)
        if r is None:
            continue
        if best[1] is None or (r["est"] < best[1]["est"]
                               if r["better"] == "lower"
                               else r["est"] > best[1]["est"]):
            best = (p, r)
    return best


def all_ratios(res, workload, variant, metric, threads, tp):
    parts = []
    for p in res.peers_with(workload, variant, metric, threads):
        if p in ("tpool", "sequential") or p.startswith("tpool-"):
            continue
        r = res.get(workload, variant, p, threads, metric)
        rr = ratio(tp["est"], r["est"], r["better"])
        if rr is not None:
            parts.append("%s %s" % (p, fmt_ratio(rr)))
    return ", ".join(parts)


def summary_row(res, label, measure, workload, variant, metric, threads,
                exclude=(), note=""):
    tp = res.get(workload, variant, "tpool", threads, metric)
    if tp is None:
        return None
    name, br = best_peer(res, workload, variant, metric, threads, exclude)
    if br is None:
        return [label, measure, num(tp["est"], tp["unit"]), "–", "–", ""]
    r = ratio(tp["est"], br["est"], br["better"])
    return [label, measure, num(tp["est"], tp["unit"]),
            "%s: %s" % (name, num(br["est"], br["unit"])),
            "**%s**%s" % (fmt_ratio(r), note),
            all_ratios(res, workload, variant, metric, threads, tp)]


def render(data, out_dir):
    res = Results(data)
    m = data["machine"]
    cfg = data["config"]
    bench_dir = os.path.join(out_dir, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    for name in os.listdir(bench_dir):  # charts of an earlier run
        if name.endswith(".svg"):
            os.remove(os.path.join(bench_dir, name))
    T = res.head_threads
    md = []
    w = md.append

    w("# tpool benchmarks\n\n")
    w("Generated by `make bench` (`bench/run.sh %s`) on %s, in %s of "
      "measuring. Machine-readable results: [bench/results.json]"
      "(bench/results.json) (everything, with each repetition) and "
      "[bench/results.csv](bench/results.csv) (median, min, max).\n\n"
      % (data["mode"], m["date"], _minutes(data["duration_s"])))
    w("> **Absolute figures depend on the machine** (and on what else it "
      "was doing: this one has %d cores and is shared). **The ratios are "
      "the claim**: every peer ran the same workloads in the same run, "
      "repetitions interleaved, so that they met the same conditions.\n\n"
      % m["cores"])
    w("How to read the tables\n\n")
    w("- A cell is `median [min–max]` over %d repetitions (fewer where "
      "said), each a fresh process that warms up before it measures. The "
      "repetitions of all peers are interleaved in a shuffled order.%s\n"
      % (cfg["reps"], _disturbance_note(data)))
    w("- **×r** after a peer's figure is tpool's ratio to that peer, "
      "oriented so that **×r > 1 means tpool is better** (peer/tpool for "
      "times and bytes, tpool/peer for throughput and speed-up); ×0.5 "
      "means the peer is twice as good.\n")
    if res.estimator == "best":
        w("- **This run was disturbed**: %d of its %d measurements ran "
          "while other processes were using the CPU. Since interference "
          "only ever makes a figure worse, the ratios, the summary and the "
          "charts compare each peer's **best repetition** (the lowest time, "
          "the highest throughput) rather than its median; the tables "
          "still show median [min–max]. Figures that depend on having "
          "every core (the CPU-bound speed-up above all) are the least "
          "reliable here.\n" % (data.get("disturbed", 0), len(data["runs"])))
    else:
        w("- Ratios, the summary and the charts use the medians.\n")
    w("- *Threads* is the pool's thread count. † marks peers whose waiting "
      "thread is one of the pool's threads and runs tasks itself while it "
      "waits (OpenMP, oneTBB): with T threads they use T threads in all, "
      "the others T workers plus the submitting thread. In the latency "
      "test this means the task usually runs on the waiting thread and "
      "no hand-off is measured.\n\n")

    # Machine
    w("## Machine\n\n")
    w(table(["", ""], [
        ["CPU", m["cpu"]], ["cores", str(m["cores"])],
        ["memory", m.get("memory", "")], ["OS", m.get("os", "")],
        ["kernel", m["kernel"]], ["C compiler", m.get("compiler", "")],
        ["C++ compiler", m.get("cxx_compiler", "")],
        ["Python", m.get("python", "")], ["date", m["date"]],
        ["load average (1 min) before / after",
         "%.2f / %.2f" % (m.get("load_before", 0), m.get("load_after", 0))],
        ["build", "CMake Release, -O2, no sanitizer (build-bench/)"],
        ["priority", "nice %s%s" % (m.get("nice", 0), " (raised: the "
                                    "machine is shared)" if m.get(
                                        "nice", 0) < 0 else "")],
    ]))
    w("\n")

    # Peers
    w("## Peers\n\n")
    rows = []
    for p in data["peers"]:
        rows.append([p["name"] if p["kind"] == "pool" else
                     "queue: " + p["name"], p["title"], p["version"],
                     p["notes"]])
    w(table(["peer", "what", "version", "how it is driven"], rows))
    if data["skipped"]:
        w("\nNot measured in this run:\n\n")
        for s in data["skipped"]:
            w("- **%s**: %s\n" % (s["peer"], s["reason"]))
    w("\nWhich peer runs which workload (n/a: the peer has no such "
      "operation, see each section):\n\n")
    wl = ["empty", "forkjoin", "latency", "io", "cpu", "futures", "memory",
          "idle"]
    rows = []
    for name, p in res.peers.items():
        have = set(p["workloads"])
        row = [name]
        for x in wl:
            mark = "yes" if x in have else "n/a"
            if x == "empty" and x in have:
                mark = "single + batch" if p["batch"] else "single"
            row.append(mark)
        rows.append(row)
    w(table(["peer"] + [WORKLOAD_NAMES[x] for x in wl], rows))
    w("\n")

    # Summary
    w("## Summary\n\n")
    w("tpool against the best other peer at %s (the core count), and its "
      "ratio to each (×r > 1: tpool better); figures are %s.\n\n"
      % (th(T), "medians" if res.estimator == "median" else
         "each peer's best repetition (a disturbed run, see above)"))
    hand = [n for n, p in res.peers.items() if p.get("waiter_runs_tasks")]
    srows = []
    add = lambda r: r is not None and srows.append(r)  # noqa: E731
    add(summary_row(res, "empty tasks", "ns/task, single submits", "empty",
                    "single", "ns_per_task", T, exclude=hand,
                    note=" (‡)" if hand else ""))
    add(_batch_summary(res, T, hand))
    for fib in cfg["fib"]:
        add(summary_row(res, "fork-join fib(%d)" % fib, "ns/task",
                        "forkjoin", "fib%d" % fib, "ns_per_task", T))
    for q in ("p50", "p99"):
        add(summary_row(res, "latency", "%s, µs" % q, "latency", "",
                        q + "_us", T, exclude=hand,
                        note=" (‡)" if hand else ""))
    io_row = res.find("io", "", "tpool", "wall_ms")
    if io_row is not None:
        add(summary_row(res, "I/O-bound", "wall ms (ideal %s)" %
                        num(res.find("io", "", "tpool", "ideal_ms")["median"]),
                        "io", "", "wall_ms", io_row["threads"]))
    add(summary_row(res, "CPU-bound", "speed-up over sequential", "cpu", "",
                    "speedup", T, exclude=("python",)))
    add(summary_row(res, "many futures", "ns/future", "futures", "",
                    "ns_per_future", T))
    for prod, cons in cfg["queue_configs"]:
        add(summary_row(res, "queue %dx%d" % (prod, cons), "items/s",
                        "queue", "%dx%d" % (prod, cons), "items_per_s",
                        prod))
    for v, what in (("task", "bytes per queued task"),
                    ("future", "bytes per queued task + future")):
        add(summary_row(res, "memory", what + " (RSS)", "memory", v,
                        "rss_bytes", 1))
    idle = res.find("idle", "", "tpool", "cpu_ms")
    if idle is not None:
        srows.append(["idle", "CPU ms in %s s" % num(idle["n"] / 1000),
                      num(idle["est"]), "see below", "–",
                      "all pools sleep when idle"])
    w(table(["workload", "measure", "tpool", "best other peer",
             "tpool vs best", "tpool vs each"], srows))
    if hand:
        w("\n‡ Best among the peers that, like tpool, take tasks from a "
          "thread outside the pool and hand them to other threads: %s are "
          "left out of \"best\" here (their ratios are in the last column "
          "and in the tables below), because there the submitting thread is "
          "one of the pool's threads and runs the tasks itself while it "
          "waits (libgomp even runs a new task at once, inline, when 64 per "
          "thread are queued), so they do not do the work that is being "
          "measured.\n" % " and ".join(hand))
    w("\n")

    _section_empty(res, cfg, bench_dir, w)
    _section_forkjoin(res, cfg, bench_dir, w)
    _section_latency(res, cfg, bench_dir, w)
    _section_io(res, cfg, bench_dir, w)
    _section_cpu(res, cfg, bench_dir, w)
    _section_futures(res, cfg, bench_dir, w)
    _section_queue(res, cfg, bench_dir, w)
    _section_memory(res, cfg, bench_dir, w)
    _section_idle(res, cfg, w)

    w("## Running it\n\n")
    w("`make bench` (about %s here) installs the peers' Debian packages "
      "when they are missing and it can (root and apt-get: libglib2.0-dev, "
      "libuv1-dev, libtbb-dev, python3), builds build-bench/ (Release, "
      "-O2), runs everything and rewrites this page, its charts and "
      "docs/bench/results.*. A peer that cannot be built is skipped with a "
      "line saying why. `make bench-quick` runs the same programs on small "
      "sizes with 2 repetitions (under 2 minutes): a smoke test that "
      "checks that every program works and gives the right answers; its "
      "report goes to build-bench/quick/. `python3 bench/bench.py --help` "
      "runs a subset (`--only`, `--peers`). A new peer is one file: "
      "`bench/peer_<name>.c` (or `.cpp`) implementing the adapter "
      "interface of `bench/bench.h`, with a `bench-requires:` line.\n"
      % _minutes(data["duration_s"] + 60))
    if data["failures"]:
        w("\n## Failed measurements\n\n")
        for f in data["failures"]:
            w("- %s `%s`: %s\n" % (f["peer"], " ".join(
                os.path.basename(c) for c in f["command"]), f["error"]))
    path = os.path.join(out_dir, "benchmarks.md")
    with open(path, "w") as f:
        f.write("".join(md))
    return path


def _disturbance_note(data):
    if not data.get("config", {}).get("retries"):
        return ""
    n = len(data["runs"])
    return (" While a measurement ran, the CPU time that other processes "
            "used was taken from /proc/stat; when it was over 10%% of a "
            "core the measurement was run again (up to %d times, within a "
            "time budget): %d re-runs in all, and %d of the %d measurements "
            "kept were still disturbed." % (data["config"]["retries"],
                             data.get("repeated", 0),
                             data.get("disturbed", 0), n))


def _minutes(s):
    s = int(round(s))
    return "%d min %02d s" % (s // 60, s % 60) if s >= 60 else "%d s" % s


def _batch_summary(res, T, exclude):
    tp = res.get("empty", "batch", "tpool", T, "ns_per_task")
    if tp is None:
        return None
    best = (None, None, None)
    parts = []
    for p in res.peers_with("empty", "single", "ns_per_task", T):
        if p == "tpool":
            continue
        r = res.get("empty", "batch", p, T, "ns_per_task")
        how = "batch"
        if r is None:
            r = res.get("empty", "single", p, T, "ns_per_task")
            how = "single"
        rr = ratio(tp["est"], r["est"], "lower")
        parts.append("%s %s" % (p, fmt_ratio(rr)))
        if p in exclude:
            continue
        if best[1] is None or r["est"] < best[1]["est"]:
            best = (p, r, how)
    if best[1] is None:
        return ["empty tasks", "ns/task, batch submits",
                num(tp["est"]), "–", "–", ""]
    return ["empty tasks", "ns/task, batch submits (peers: their best)",
            num(tp["est"]),
            "%s (%s): %s" % (best[0], best[2], num(best[1]["est"])),
            "**%s**%s" % (fmt_ratio(ratio(tp["est"], best[1]["est"],
                                          "lower")),
                          " (‡)" if exclude else ""), ", ".join(parts)]


def _section_empty(res, cfg, bench_dir, w):
    if res.find("empty", "single", "tpool", "ns_per_task") is None and \
            not res.peers_with("empty", "single", "ns_per_task"):
        return
    w("## Empty tasks\n\n")
    w("%s no-op tasks submitted one by one from a thread outside the pool, "
      "then a wait until all have run; the figure is the wall time divided "
      "by the number of tasks: **ns per task**, submit + run + completion "
      "(Python: %s tasks). Each peer waits its own way: tpool "
      "`tp_pool_wait_idle`, the baseline its idle condition variable, "
      "GLib a counter (GThreadPool has no wait), libuv `uv_run`, OpenMP "
      "`taskwait`, TBB `task_group::wait`, Python `wait()` on the "
      "futures.\n\n" % ("{:,}".format(cfg["empty_n"]),
                        "{:,}".format(cfg["empty_py"])))
    threads_chart(res, os.path.join(bench_dir, "empty_single.svg"),
                  "Empty tasks, one submit per task", "ns per task",
                  "empty", "single", "ns_per_task")
    w("![ns per task against threads](bench/empty_single.svg)\n\n")
    w(threads_table(res, "empty", "single", "ns_per_task"))
    batch = res.peers_with("empty", "batch", "ns_per_task")
    if batch:
        w("\n**Batch submits.** The same tasks handed over %s at a time "
          "(`tp_submit_batch`: one lock and one wake-up round per batch). "
          "Only tpool and the baseline have a batch call; the other peers' "
          "single-submit figures are repeated for comparison (marked "
          "*single*).\n\n" % "1,024")
        extra = {}
        tp_single = [(t, res.get("empty", "single", "tpool", t,
                                 "ns_per_task")["est"])
                     for t in res.threads
                     if res.get("empty", "single", "tpool", t, "ns_per_task")]
        if tp_single:
            extra["tpool single"] = tp_single
        threads_chart(res, os.path.join(bench_dir, "empty_batch.svg"),
                      "Empty tasks, batch submits", "ns per task", "empty",
                      "batch", "ns_per_task", extra=extra,
                      dashed=("tpool single",))
        w("![batch submits](bench/empty_batch.svg)\n\n")
        rows = []
        for p in res.peers_with("empty", "single", "ns_per_task"):
            cells = []
            has_batch = p in batch
            for t in res.threads:
                tp = res.get("empty", "batch", "tpool", t, "ns_per_task")
                r = res.get("empty", "batch" if has_batch else "single", p,
                            t, "ns_per_task")
                cells.append(cell(r, tp))
            rows.append([peer_label(res, p) +
                         ("" if has_batch else " *single*")] + cells)
        w(table(["peer"] + [th(t) for t in res.threads], rows))
    w("\n")


def _section_forkjoin(res, cfg, bench_dir, w):
    if not res.peers_with("forkjoin", "fib%d" % cfg["fib"][0],
                          "ns_per_task"):
        return
    w("## Fork-join\n\n")
    w("fib(n) where every call with n ≥ 2 spawns fib(n-1) as a child task, "
      "computes fib(n-2) itself and waits for the child; fib(n+1) tasks in "
      "all (the root included). A worker that waits must run other tasks "
      "meanwhile or the pool deadlocks: tpool's `tp_future_wait` does "
      "that from a worker, OpenMP's `taskwait` and TBB's "
      "`task_group::wait` too. The baseline, GLib, libuv and Python have no "
      "such wait (a waiting task holds its thread, and with every thread "
      "waiting nothing runs the children), so fork-join is not applicable "
      "to them. The sequential time is the same recursion as plain "
      "calls. tpool runs it three ways: `tpool` (tp_submit_future, then "
      "tp_future_get), `tpool-inplace` (tp_submit_inplace, the task in "
      "the caller's stack frame) and `tpool-fj` (tp_spawn/tp_sync frames, "
      "the body in tp_fj_run); ratios are to `tpool`.\n\n")
    for fib in cfg["fib"]:
        v = "fib%d" % fib
        seq = res.find("seqfib", v, "sequential", "total_ms")
        tasks = res.find("forkjoin", v, "tpool", "tasks")
        w("### fib(%d)%s\n\n" % (fib, ": %s tasks" % "{:,}".format(
            int(tasks["median"])) if tasks else ""))
        threads_chart(res, os.path.join(bench_dir, "forkjoin_%s.svg" % v),
                      "Fork-join fib(%d)" % fib, "ns per task", "forkjoin",
                      v, "ns_per_task")
        w("![fork-join fib(%d)](bench/forkjoin_%s.svg)\n\n" % (fib, v))
        w("ns per task (total time / tasks):\n\n")
        w(threads_table(res, "forkjoin", v, "ns_per_task"))
        if seq is not None:
            w("\nTotal time in ms, and as a multiple of the sequential "
              "time (%s ms):\n\n" % num(seq["median"]))
            rows = []
            for p in res.peers_with("forkjoin", v, "total_ms"):
                cells = []
                for t in res.threads:
                    r = res.get("forkjoin", v, p, t, "total_ms")
                    cells.append("n/a" if r is None else "%s ms (×%s)" % (
                        num(r["median"]), num(r["median"] / seq["median"])))
                rows.append([peer_label(res, p)] + cells)
            w(table(["peer"] + [th(t) for t in res.threads], rows))
        w("\n")


def _section_latency(res, cfg, bench_dir, w):
    peers = res.peers_with("latency", "", "p50_us")
    if not peers:
        return
    T = res.head_threads
    w("## Sporadic latency\n\n")
    w("One task at a time to an idle pool, a pause of ~%d µs between two "
      "(%s samples per repetition, %d repetitions, after 20 discarded): the "
      "time from the submit until the waiting thread has the task's result "
      "(tpool: `tp_submit_future` + `tp_future_get`). Percentiles p50, "
      "p90, p99 in µs, lower is better. † OpenMP and TBB: the waiting "
      "thread usually runs the task itself (work-first), so their figures "
      "measure no wake-up of another thread and are left out of the "
      "summary's best peer.\n\n"
      % (cfg["latency_gap_us"], "{:,}".format(cfg["latency_n"]),
         max(cfg["reps"] - 2, 1)))
    qs = ["p50", "p90", "p99"]
    values = []
    for p in peers:
        row = []
        for q in qs:
            r = res.get("latency", "", p, T, q + "_us")
            row.append(r["est"] if r else None)
        values.append(row)
    with open(os.path.join(bench_dir, "latency.svg"), "w") as f:
        f.write(svg.bar_chart("Sporadic latency at %s (log scale)" % th(T),
                              "µs from submit to result", [
                                  peer_label(res, p) for p in peers], qs,
                              values, ["p50", "p90", "p99"], logy=True))
    w("![latency percentiles](bench/latency.svg)\n\n")
    rows = []
    for p in peers:
        for t in res.threads:
            cells = []
            for q in qs:
                tp = res.get("latency", "", "tpool", t, q + "_us")
                cells.append(cell(res.get("latency", "", p, t, q + "_us"),
                                  tp))
            rows.append([peer_label(res, p), str(t)] + cells)
    w(table(["peer", "threads", "p50 µs", "p90 µs", "p99 µs"], rows))
    w("\n")


def _section_io(res, cfg, bench_dir, w):
    peers = res.peers_with("io", "", "wall_ms")
    if not peers:
        return
    w("## I/O-bound tasks\n\n")
    ideal = res.find("io", "", peers[0], "ideal_ms")["median"]
    w("%s tasks that each sleep %d ms, on %d threads: the ideal wall time "
      "is %s ms (%d waves). Lower is better; what is above the ideal is the "
      "pool's overhead (start-up of the wave, hand-out, wake-ups).\n\n"
      % ("{:,}".format(cfg["io_n"]), cfg["io_ms"], cfg["io_threads"],
         num(ideal), cfg["io_n"] // cfg["io_threads"]))
    vals = [[res.find("io", "", p, "wall_ms")["est"]] for p in peers]
    with open(os.path.join(bench_dir, "io.svg"), "w") as f:
        f.write(svg.bar_chart("I/O-bound: %d x %d ms sleeps on %d threads"
                              % (cfg["io_n"], cfg["io_ms"],
                                 cfg["io_threads"]), "wall time, ms",
                              ["wall time"], peers,
                              [[v[0] for v in vals]], res.order,
                              reference=("ideal", ideal)))
    w("![I/O-bound wall time](bench/io.svg)\n\n")
    tp = res.find("io", "", "tpool", "wall_ms")
    rows = []
    for p in peers:
        r = res.find("io", "", p, "wall_ms")
        over = res.find("io", "", p, "overhead_ms")
        rows.append([peer_label(res, p), cell(r, tp),
                     num(over["median"]) if over else "–"])
    w(table(["peer", "wall ms", "over the ideal, ms"], rows))
    w("\n")


def _section_cpu(res, cfg, bench_dir, w):
    peers = res.peers_with("cpu", "", "speedup")
    if not peers:
        return
    seq = res.find("seqcpu", "", "sequential", "wall_ms")
    pyseq = res.find("seqcpu", "", "python", "wall_ms")
    w("## CPU-bound tasks\n\n")
    w("%d tasks of equal CPU work (%s rounds of xorshift each, the same "
      "code for every C peer); the figure is the **speed-up** over running "
      "them one after the other on one thread%s. Higher is better; on this "
      "machine the ceiling is %d. Python runs the same loop in Python "
      "(%s rounds) against its own sequential time%s: the GIL lets one "
      "task's bytecode run at a time, so it stays near 1 whatever the "
      "threads, while the C pools scale (no GIL).\n\n"
      % (cfg["cpu_n"], "{:,}".format(cfg["cpu_work"]),
         " (%s ms)" % num(seq["median"]) if seq else "",
         res.data["machine"]["cores"], "{:,}".format(cfg["cpu_work_py"]),
         " (%s ms)" % num(pyseq["median"]) if pyseq else ""))
    cores = res.data["machine"]["cores"]
    threads_chart(res, os.path.join(bench_dir, "cpu.svg"),
                  "CPU-bound: speed-up over one thread", "speed-up",
                  "cpu", "", "speedup", logy=False,
                  reference=("ideal", [(t, min(t, cores))
                                       for t in res.threads]))
    w("![CPU-bound speed-up](bench/cpu.svg)\n\n")
    w(threads_table(res, "cpu", "", "speedup"))
    w("\n")


def _section_futures(res, cfg, bench_dir, w):
    if not res.peers_with("futures", "", "ns_per_future"):
        return
    w("## Many futures, collected as they complete\n\n")
    w("%s tasks submitted with a future each, then collected in the order "
      "they finish (Python: %s with `as_completed`). tpool: "
      "`tp_submit_future` + `tp_waitset_add`, then `tp_waitset_next`; the "
      "baseline: a list of finished jobs under its mutex; GLib: finished "
      "records pushed to a GAsyncQueue; libuv: completion callbacks on the "
      "loop. Figure: ns per future, submit to collection. OpenMP and TBB "
      "have no futures: n/a.\n\n"
      % ("{:,}".format(cfg["futures_n"]), "{:,}".format(cfg["futures_py"])))
    threads_chart(res, os.path.join(bench_dir, "futures.svg"),
                  "Many futures, as completed", "ns per future", "futures",
                  "", "ns_per_future")
    w("![futures](bench/futures.svg)\n\n")
    w(threads_table(res, "futures", "", "ns_per_future"))
    w("\n")


def _section_queue(res, cfg, bench_dir, w):
    if not res.queues:
        return
    configs = ["%dx%d" % tuple(c) for c in cfg["queue_configs"]]
    w("## MPMC queue\n\n")
    w("Producers x consumers threads pass %s items through one unbounded "
      "FIFO queue; each consumer takes the same share. Figure: items per "
      "second (millions), higher is better. tp_queue (`tp_queue_put` / "
      "`tp_queue_get`) against GLib's GAsyncQueue and a plain ring buffer "
      "behind a mutex and a condition variable.\n\n"
      % "{:,}".format(cfg["queue_n"]))
    vals = []
    for c, (prod, _) in zip(configs, cfg["queue_configs"]):
        row = []
        for q in res.queues:
            r = res.get("queue", c, q, prod, "items_per_s")
            row.append(r["est"] if r else None)
        vals.append(row)
    with open(os.path.join(bench_dir, "queue.svg"), "w") as f:
        f.write(svg.bar_chart("MPMC queue throughput", "items per second",
                              configs, res.queues, vals, res.queues))
    w("![queue throughput](bench/queue.svg)\n\n")
    rows = []
    for q in res.queues:
        cells = []
        for c, (prod, _) in zip(configs, cfg["queue_configs"]):
            tp = res.get("queue", c, "tpool", prod, "items_per_s")
            cells.append(cell(res.get("queue", c, q, prod, "items_per_s"),
                              tp))
        rows.append([{"tpool": "tpool (tp_queue)"}.get(q, q)] + cells)
    w(table(["queue"] + configs, rows))
    w("\n")


def _section_memory(res, cfg, bench_dir, w):
    peers = res.peers_with("memory", "task", "rss_bytes")
    if not peers:
        return
    w("## Memory\n\n")
    w("A pool of one thread, blocked by a first task, receives %s more "
      "(Python: %s): the growth of the resident set (RSS, from "
      "/proc/self/statm) and of malloc's bytes in use (`mallinfo2`, in "
      "brackets) divided by the number of queued tasks. *task*: plain "
      "submits; *+ future*: tasks with a future or handle the caller can "
      "wait on (the caller's handle storage counts). Lower is better. "
      "Median of %d repetitions. "
      "oneTBB allocates from its own allocator (so malloc sees nothing); "
      "OpenMP runs tasks inline past 64 queued per thread, so a deep queue "
      "cannot be measured (n/a).\n\n"
      % ("{:,}".format(cfg["memory_n"]), "{:,}".format(cfg["memory_py"]),
         min(cfg["reps"], 2)))
    groups = ["queued task", "queued task + future"]
    vals = []
    for v in ("task", "future"):
        row = []
        for p in peers:
            r = res.get("memory", v, p, 1, "rss_bytes")
            row.append(r["est"] if r else None)
        vals.append(row)
    with open(os.path.join(bench_dir, "memory.svg"), "w") as f:
        f.write(svg.bar_chart("Memory per queued task (RSS growth)",
                              "bytes (log scale)", groups, peers, vals,
                              res.order, logy=True))
    w("![memory per task](bench/memory.svg)\n\n")
    rows = []
    for p in peers:
        cells = []
        for v in ("task", "future"):
            r = res.get("memory", v, p, 1, "rss_bytes")
            h = res.get("memory", v, p, 1, "heap_bytes")
            tp = res.get("memory", v, "tpool", 1, "rss_bytes")
            if r is None:
                cells.append("n/a")
                continue
            s = num(r["median"])
            if h is not None:
                s += " [%s]" % num(h["median"])
            rr = ratio(tp["est"], r["est"], "lower") if (
                tp is not None and tp is not r) else None
            if rr is not None:
                s += " · **%s**" % fmt_ratio(rr)
            cells.append(s)
        rows.append([peer_label(res, p)] + cells)
    w(table(["peer", "bytes per queued task", "bytes per queued task + "
             "future"], rows))
    w("\n")


def _section_idle(res, cfg, w):
    peers = res.peers_with("idle", "", "cpu_ms")
    if not peers:
        return
    t = res.find("idle", "", peers[0], "cpu_ms")["threads"]
    w("## Idle CPU\n\n")
    w("A pool of %d threads runs 10,000 empty tasks, then sits idle for "
      "%s ms; the process's CPU time over that interval (user + system, "
      "`getrusage`; %d repetitions). A pool whose idle workers poll would show hundreds "
      "of ms here; every peer sleeps, and what is left is noise (timer "
      "ticks, a short spin before sleeping), too small for ratios to mean "
      "anything.\n\n" % (t, "{:,}".format(cfg["idle_ms"]),
                           min(cfg["reps"], 3)))
    rows = []
    for p in peers:
        r = res.find("idle", "", p, "cpu_ms")
        pct = res.find("idle", "", p, "cpu_pct")
        rows.append([peer_label(res, p), cell(r),
                     "%.3f %%" % pct["median"] if pct else "–"])
    w(table(["peer", "CPU ms", "of one core"], rows))
    w("\n")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RESULTS.json OUT_DIR")
    with open(sys.argv[1]) as f:
        data = json.load(f)
    print(render(data, sys.argv[2]))


if __name__ == "__main__":
    main()
