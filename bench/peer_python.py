#!/usr/bin/env python3
"""Python's concurrent.futures.ThreadPoolExecutor as a benchmark peer.

The same command line and output as the C programs (tpbench-<peer>, see
driver.c), for the workloads where a Python thread pool applies:

  empty     n no-op tasks, one submit each; variant "single": then wait()
            for all, "future": then result() of each, in order
  memory    resident-set growth per queued task, with or without keeping
            its future
  latency   one task at a time to an idle pool: submit, then result()
  idle      CPU time used over `ms` milliseconds of idleness after work

Not applicable: batch submit (there is none; map() submits one by one),
fork-join (a task that waits for its child holds a worker: the pool
deadlocks once every worker waits).  Every submit makes a Future (a
Condition, so a lock, per task): that is the executor's only way.  Work
sizes are the caller's (bench.py gives Python smaller ones); results are
per task, so they compare.
"""
import argparse
import json
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

NAME = "python"


def info():
    return {
        "peer": NAME,
        "title": "Python ThreadPoolExecutor",
        "version": "Python %d.%d.%d" % sys.version_info[:3],
        "notes": "concurrent.futures.ThreadPoolExecutor; the GIL runs one "
                 "task's Python code at a time; smaller sizes than the C "
                 "peers.",
        "future_form": "concurrent.futures.Future (made by every submit; "
                       "a threading.Condition each)",
        "batch_form": "",
        "batch": False,
        "futures": True,
        "nested_join": False,
        "waiter_runs_tasks": False,
        "batch_waiter_runs": False,
        "workloads": ["empty", "latency", "memory", "idle"],
    }


def noop(arg=None):
    return arg


def empty(a):
    n = a.n or 1000000
    future = a.variant == "future"
    with ThreadPoolExecutor(max_workers=a.threads) as ex:
        for size in (max(n // 10, 1000), n):
            t0 = time.perf_counter_ns()
            if future:
                futs = [ex.submit(noop, i) for i in range(size)]
                for i, f in enumerate(futs):
                    if f.result() != i:
                        sys.exit("python: a future gave a wrong result")
            else:
                futs = [ex.submit(noop) for _ in range(size)]
                wait(futs)
            ns = time.perf_counter_ns() - t0
    return ("future" if future else "single"), n, {
        "ns_per_task": ns / n, "total_ms": ns / 1e6}


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


WORKLOADS = {"empty": empty, "latency": latency, "memory": memory,
             "idle": idle}
DEFAULT_THREADS = {"idle": 4, "memory": 1}


def main():
    if sys.argv[1:] == ["--info"]:
        print(json.dumps(info()))
        return 0
    ap = argparse.ArgumentParser(prog="peer_python.py")
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--variant", default="")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--gap-us", dest="gap_us", type=int, default=0)
    ap.add_argument("--ms", type=int, default=0)
    a = ap.parse_args()
    if a.workload == "empty" and a.variant not in ("", "single", "future"):
        sys.exit("python: no batch submit")
    a.threads = a.threads or DEFAULT_THREADS.get(a.workload, 2)
    if a.workload == "memory":
        a.threads = 1
    variant, n, metrics = WORKLOADS[a.workload](a)
    print(json.dumps({"peer": NAME, "workload": a.workload,
                      "variant": variant, "threads": a.threads, "n": n,
                      "metrics": metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
