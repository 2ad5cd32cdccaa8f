#!/usr/bin/env python3
"""Python's concurrent.futures.ThreadPoolExecutor as a benchmark peer.

The same command line and output as the C programs (tpbench-<peer>, see
driver.c), for the workloads where a Python thread pool applies:

  empty     n no-op tasks (one submit each), then wait for all
  latency   one task at a time to an idle pool: submit, then result()
  io        n tasks that each sleep `ms` milliseconds
  cpu       n tasks of equal pure-Python work (the GIL lets one run at a
            time); seqcpu: the same work on the calling thread
  futures   n futures collected with as_completed()
  memory    resident-set growth per queued task, with or without keeping
            its future
  idle      CPU time used over `ms` milliseconds of idleness after work

Not applicable: batch submit (there is none; map() submits one by one),
fork-join (a task that waits for its child holds a worker: the pool
deadlocks once every worker waits).  Work sizes are the caller's (bench.py
gives Python smaller ones); results are per task, so they compare.
"""
import argparse
import json
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed, wait

NAME = "python"


def info():
    return {
        "peer": NAME,
        "title": "Python ThreadPoolExecutor",
        "version": "Python %d.%d.%d" % sys.version_info[:3],
        "notes": "concurrent.futures.ThreadPoolExecutor; every submit "
                 "makes a Future; the GIL runs one task's Python code at a "
                 "time; smaller sizes than the C peers.",
        "batch": False,
        "nested_join": False,
        "waiter_runs_tasks": False,
        "workloads": ["empty", "latency", "io", "cpu", "seqcpu", "futures",
                      "memory", "idle"],
    }


def noop(arg=None):
    return arg


def empty(a):
    n = a.n or 1000000
    with ThreadPoolExecutor(max_workers=a.threads) as ex:
        for size in (max(n // 10, 1000), n):
            t0 = time.perf_counter_ns()
            futs = [ex.submit(noop) for _ in range(size)]
            wait(futs)
            ns = time.perf_counter_ns() - t0
    return "single", n, {"ns_per_task": ns / n, "total_ms": ns / 1e6}


def pct(sorted_ns, q):
    rank = min(max(int(q * len(sorted_ns) + 0.999999), 1), len(sorted_ns))
    return sorted_ns[rank - 1] / 1e3


def latency(a):
    n = a.n or 5000
    gap = (a.gap_us or 200) / 1e6
    token = object()
    samples = []
    with ThreadPoolExecutor(max_workers=a.threads) as ex:
        for _ in range(max(a.threads, 20)):  # start the threads
            ex.submit(noop).result()
        for i in range(20 + n):
            time.sleep(gap)
            t0 = time.perf_counter_ns()
            res = ex.submit(noop, token).result()
            t1 = time.perf_counter_ns()
            if res is not token:
                sys.exit("python: wrong result")
            if i >= 20:
                samples.append(t1 - t0)
    samples.sort()
    return "", n, {"p50_us": pct(samples, 0.50), "p90_us": pct(samples, 0.90),
                   "p99_us": pct(samples, 0.99),
                   "mean_us": sum(samples) / n / 1e3,
                   "max_us": samples[-1] / 1e3}


def io(a):
    n = a.n or 1000
    ms = a.ms or 10
    with ThreadPoolExecutor(max_workers=a.threads) as ex:
        wait([ex.submit(time.sleep, 0.001) for _ in range(a.threads)])
        t0 = time.perf_counter_ns()
        futs = [ex.submit(time.sleep, ms / 1e3) for _ in range(n)]
        wait(futs)
        wall = (time.perf_counter_ns() - t0) / 1e6
    ideal = -(-n // a.threads) * ms
    return "", n, {"wall_ms": wall, "ideal_ms": ideal,
                   "overhead_ms": wall - ideal}


MASK = (1 << 64) - 1


def cpu_work(seed, iters):
    x = seed | 1
    for _ in range(iters):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
    return x


def cpu(a):
    n = a.n or 64
    work = a.work or 20000
    with ThreadPoolExecutor(max_workers=a.threads) as ex:
        wait([ex.submit(cpu_work, i + 1, work // 16)
              for i in range(a.threads)])
        t0 = time.perf_counter_ns()
        futs = [ex.submit(cpu_work, i + 1, work) for i in range(n)]
        wait(futs)
        wall = (time.perf_counter_ns() - t0) / 1e6
    if any(f.result() == 0 for f in futs):
        sys.exit("python: a cpu task did not run")
    return "", n, {"wall_ms": wall}


def seqcpu(a):
    n = a.n or 64
    work = a.work or 20000
    cpu_work(1, work)
    t0 = time.perf_counter_ns()
    for i in range(n):
        cpu_work(i + 1, work)
    return "", n, {"wall_ms": (time.perf_counter_ns() - t0) / 1e6}


def futures(a):
    n = a.n or 100000
    with ThreadPoolExecutor(max_workers=a.threads) as ex:
        for size in (max(n // 10, 100), n):
            t0 = time.perf_counter_ns()
            futs = [ex.submit(noop, i) for i in range(size)]
            seen = bytearray(size)
            for f in as_completed(futs):
                seen[f.result()] += 1
            ns = time.perf_counter_ns() - t0
            if seen.count(1) != size:
                sys.exit("python: a future came back twice or never")
    return "", n, {"ns_per_future": ns / n, "total_ms": ns / 1e6}


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory(a):
    n = a.n or 1000000
    keep = a.variant == "future"
    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as ex:
        wait([ex.submit(noop) for _ in range(n // 100 + 100)])
        r0 = rss_bytes()
        ex.submit(gate.wait)
        kept = []
        for _ in range(n):
            f = ex.submit(noop)
            if keep:
                kept.append(f)
        r1 = rss_bytes()
        gate.set()
    return "future" if keep else "task", n, {"rss_bytes": (r1 - r0) / n}


def cpu_ms():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (ru.ru_utime + ru.ru_stime) * 1e3


def idle(a):
    ms = a.ms or 1000
    with ThreadPoolExecutor(max_workers=a.threads) as ex:
        wait([ex.submit(noop) for _ in range(10000)])
        before = cpu_ms()
        t0 = time.perf_counter()
        time.sleep(ms / 1e3)
        wall = (time.perf_counter() - t0) * 1e3
        used = cpu_ms() - before
    return "", ms, {"cpu_ms": used, "cpu_pct": 100 * used / wall}


WORKLOADS = {"empty": empty, "latency": latency, "io": io, "cpu": cpu,
             "seqcpu": seqcpu, "futures": futures, "memory": memory,
             "idle": idle}
DEFAULT_THREADS = {"io": 100, "idle": 4, "memory": 1, "seqcpu": 1}


def main():
    if sys.argv[1:] == ["--info"]:
        print(json.dumps(info()))
        return 0
    ap = argparse.ArgumentParser(prog="peer_python.py")
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--variant", default="")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--work", type=int, default=0)
    ap.add_argument("--gap-us", dest="gap_us", type=int, default=0)
    ap.add_argument("--ms", type=int, default=0)
    a = ap.parse_args()
    if a.workload == "empty" and a.variant not in ("", "single"):
        sys.exit("python: no batch submit")
    a.threads = a.threads or DEFAULT_THREADS.get(a.workload, 2)
    if a.workload in ("memory", "seqcpu"):
        a.threads = 1
    variant, n, metrics = WORKLOADS[a.workload](a)
    print(json.dumps({"peer": NAME, "workload": a.workload,
                      "variant": variant, "threads": a.threads, "n": n,
                      "metrics": metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
