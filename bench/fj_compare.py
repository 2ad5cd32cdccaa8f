#!/usr/bin/env python3
"""fj_compare.py - fork-join fib, every way this repository can run it, and
Lace when it was built, in one interleaved run (bench/fj.sh calls this).

    python3 bench/fj_compare.py --build build-bench [--lace PROGRAM]
        [--reps 7] [--n 25,30] [--threads 1,2] [--out FILE.md]

Cells, each a process of its own per measurement (after its own warm-up):
  suite    tpbench-<peer> forkjoin: the benchmark driver's fib (a spawn
           and a join through the adapter of bench.h per call) for
           tpool (tp_submit_future + wait), tpool-inplace
           (tp_submit_inplace + wait), tpool-fj (tp_spawn/tp_sync), and
           oneTBB and OpenMP when they were built; tpbench-tpool seqfib
  native   fib written directly against the API: tpbench-fj-fib
           (bench/fj_fib.c, tp_spawn/tp_sync) and, if given, the same
           program for Lace (bench/fj_fib_lace.c)
Every round runs all cells once, in a new random order, so that what else
the machine does spreads over all of them.  Reported: the median and the
range (min-max) of total_ms per cell, and ratios of medians.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys


def run(cmd, timeout):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=timeout, check=True).stdout
    except (subprocess.SubprocessError, OSError) as e:
        return None, str(e)
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line), None
            except ValueError:
                pass
    return None, "no JSON line in the output"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--lace", help="the Lace fib program (fj_fib_lace.c)")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--n", default="25,30")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--out", help="write the table here (Markdown)")
    a = ap.parse_args()
    bdir = os.path.join(a.build, "bench")
    ns = [int(x) for x in a.n.split(",")]
    ts = [int(x) for x in a.threads.split(",")]

    suite = [("tpool", "tpool tp_submit_future + wait"),
             ("tpool_inplace", "tpool tp_submit_inplace + wait"),
             ("tpool_fj", "tpool tp_spawn/tp_sync"),
             ("tbb", "oneTBB task_group"),
             ("openmp", "OpenMP tasks")]
    cells = []  # (key, label, kind, n, threads, cmd)
    for exe, label in suite:
        path = os.path.join(bdir, "tpbench-" + exe)
        if not os.access(path, os.X_OK):
            print("fj: %s not built: skipped" % path, file=sys.stderr)
            continue
        for n in ns:
            for t in ts:
                cells.append(((label, "suite", n, t), [path, "forkjoin",
                              "--n", str(n), "--threads", str(t)]))
    seq = os.path.join(bdir, "tpbench-tpool")
    if os.access(seq, os.X_OK):
        for n in ns:
            cells.append((("sequential", "suite", n, 1),
                          [seq, "seqfib", "--n", str(n)]))
    native = [(os.path.join(bdir, "tpbench-fj-fib"), "tpool tp_spawn/tp_sync")]
    if a.lace:
        native.append((a.lace, "Lace"))
    for path, label in native:
        if not os.access(path, os.X_OK):
            print("fj: %s not built: skipped" % path, file=sys.stderr)
            continue
        for n in ns:
            for t in ts:
                cells.append(((label, "native", n, t), [path, str(n), str(t)]))

    def load():
        try:
            with open("/proc/loadavg") as f:
                return " ".join(f.read().split()[:3])
        except OSError:
            return "?"

    load_before = load()
    res = {}
    failed = 0
    for r in range(a.reps):
        order = list(cells)
        random.shuffle(order)
        print("fj: round %d of %d (%d cells)" % (r + 1, a.reps, len(order)),
              file=sys.stderr)
        for key, cmd in order:
            rec, err = run(cmd, a.timeout)
            if rec is None:
                print("fj: %s: %s" % (" ".join(cmd), err), file=sys.stderr)
                failed = 1
                continue
            res.setdefault(key, []).append(rec["metrics"]["total_ms"])

    def agg(key):
        v = res.get(key)
        if not v:
            return None
        return statistics.median(v), min(v), max(v), len(v)

    lines = []
    w = lines.append
    w("fib(n) with a task per call (n >= 2), total ms: median [min-max] of "
      "%d interleaved rounds, each a process of its own; \"suite\" is the "
      "benchmark driver's fib through its adapters (bench/workloads.c), "
      "\"native\" fib written directly against the API.  Load average "
      "(1, 5, 15 min) before: %s, after: %s; on a shared machine, other "
      "processes' load shows most in the 2-thread columns."
      % (a.reps, load_before, load()))
    w("")
    labels = []
    for key in cells:
        k = key[0][:2]
        if k not in labels:
            labels.append(k)
    for n in ns:
        w("### fib(%d)" % n)
        w("")
        hdr = "| | kind | " + " | ".join("%d thread%s" % (t, "" if t == 1
                                                            else "s")
                                          for t in ts) + " |"
        w(hdr)
        w("|---|---|" + "---|" * len(ts))
        for label, kind in labels:
            row = "| %s | %s |" % (label, kind)
            for t in ts:
                tt = 1 if label == "sequential" else t
                g = agg((label, kind, n, tt))
                row += " %s |" % ("-" if g is None else
                                  "%.2f [%.2f-%.2f]" % g[:3])
            w(row)
        w("")
        # Ratios of medians, per thread count.
        def med(label, kind, t):
            g = agg((label, kind, n, t))
            return None if g is None else g[0]
        for t in ts:
            parts = []
            fj_s = med("tpool tp_spawn/tp_sync", "suite", t)
            fj_n = med("tpool tp_spawn/tp_sync", "native", t)
            lace = med("Lace", "native", t)
            tbb = med("oneTBB task_group", "suite", t)
            fut = med("tpool tp_submit_future + wait", "suite", t)
            inp = med("tpool tp_submit_inplace + wait", "suite", t)
            if fj_n and lace:
                parts.append("tp_spawn / Lace (native) %.2f" % (fj_n / lace))
            if fj_s and tbb:
                parts.append("oneTBB / tp_spawn %.1f" % (tbb / fj_s))
            if fj_s and fut:
                parts.append("futures / tp_spawn %.1f" % (fut / fj_s))
            if inp and fut:
                parts.append("in-place / futures %.2f" % (inp / fut))
            if parts:
                w("- %d thread%s: %s" % (t, "" if t == 1 else "s",
                                         "; ".join(parts)))
        w("")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
        with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
            json.dump({"|".join(map(str, k)): v for k, v in res.items()},
                      f, indent=1, sort_keys=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
