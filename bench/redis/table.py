#!/usr/bin/env python3
"""The Markdown report of bench/redis/run.sh (docs/bench/redis.md).

  table.py RESULTS.tsv XADD.tsv XADD.txt META.txt

RESULTS.tsv: one line per measurement: system (tpool/T, celery/T or rq: T
the concurrency of one worker process), round, worker processes, tasks/s,
round trip p50 (us), p99 (us).  XADD.tsv: one line per round: "xadd",
round, redis-benchmark's XADD requests/s unpipelined and pipelined by 64.
XADD.txt: redis-benchmark's two lines of the last round.  META.txt:
key=value lines (run.sh writes them).

Every figure is the median over the rounds with its min-max range.  A
ratio is oriented so that > 1 means tpool is better (throughput
tpool/peer, latency peer/tpool); its range pairs the two min-max ranges
(worst case to best case), and where that range holds 1 the difference is
not clear.  tpool/T is compared with celery/T (the same concurrency) and
with rq.  The ceiling ratio is the unpipelined XADD rate over tpool's
(the target: at most 2).
"""
import statistics
import sys

NAMES = {"tpool": "tpool", "celery": "Celery", "rq": "RQ"}


def form(system):
    base, _, conc = system.partition("/")
    if base == "tpool":
        return "tpool (%s threads each)" % conc
    if base == "celery":
        return "Celery (prefork, %s child%s each)" % (
            conc, "" if conc == "1" else "ren")
    if base == "rq":
        return "RQ (SimpleWorker)"
    return system


def name(system):
    base, _, conc = system.partition("/")
    n = NAMES.get(base, base)
    return "%s, %s" % (n, conc) if conc else n


def load(path):
    cells = {}
    order = []
    for line in open(path):
        f = line.split()
        if len(f) != 6:
            continue
        system, workers = f[0], int(f[2])
        if system not in order:
            order.append(system)
        cells.setdefault((system, workers), []).append(
            tuple(float(x) for x in f[3:6]))
    return order, cells


def stat(values):
    return statistics.median(values), min(values), max(values)


def fmt(m, lo, hi):
    if lo == hi:
        return "%.0f" % m
    return "%.0f [%.0f-%.0f]" % (m, lo, hi)


def ratio(a, b):
    """a/b: median of medians, range from pairing the ranges."""
    (am, alo, ahi), (bm, blo, bhi) = a, b
    r, lo, hi = am / bm, alo / bhi, ahi / blo
    s = "%.1fx [%.1f-%.1f]" % (r, lo, hi)
    if lo <= 1 <= hi:
        s += " (no clear difference)"
    return s


def load_xadd(path):
    rows = []
    for line in open(path):
        f = line.split()
        if len(f) == 4 and f[0] == "xadd":
            rows.append((float(f[2]), float(f[3])))
    return rows


def main():
    order, cells = load(sys.argv[1])
    xrows = load_xadd(sys.argv[2])
    xadd = [l.rstrip() for l in open(sys.argv[3]) if l.strip()]
    meta, notes = {}, []
    for line in open(sys.argv[4]):
        k, _, v = line.rstrip("\n").partition("=")
        if k == "note":
            notes.append(v)
        elif k:
            meta[k] = v
    tpools = [s for s in order if s.startswith("tpool")]
    peers = [s for s in order if not s.startswith("tpool")]
    kinds = []
    for p in peers:
        b = p.partition("/")[0]
        if b not in kinds:
            kinds.append(b)
    versions = ", ".join(["Redis " + meta.get("redis", "?")] +
                         ["%s %s" % (NAMES.get(b, b), meta.get(b, "?"))
                          for b in kinds])
    out = ["# Redis module benchmark", ""]
    out.append(
        "%s, %s CPUs, %s; load average %s (before / after); %s s. "
        "%s rounds, the systems in turn (the order rotates each round); "
        "each measurement on a fresh private redis-server on a unix socket "
        "(no persistence). tpool: %s no-op tasks, %s round trips%s. "
        "Median [min-max] over the rounds."
        % (meta.get("date"), meta.get("cpus"), versions, meta.get("load"),
           meta.get("seconds"), meta.get("rounds"), meta.get("tasks"),
           meta.get("roundtrips"),
           "; the Python peers: %s tasks, %s round trips" % (
               meta.get("peer_tasks"), meta.get("peer_roundtrips"))
           if peers else ""))
    out.append("")
    for n in notes:
        out.append("- " + n)
    if notes:
        out.append("")
    out.append("| worker processes | system | tasks/s | round trip p50 (us) "
               "| p99 (us) |")
    out.append("|---|---|---|---|---|")
    workers = sorted({w for (_, w) in cells})
    stats = {}
    for w in workers:
        for s in order:
            if (s, w) not in cells:
                continue
            rows = cells[(s, w)]
            st = [stat([r[i] for r in rows]) for i in range(3)]
            stats[(s, w)] = st
            out.append("| %d | %s | %s | %s | %s |" % (
                w, form(s), fmt(*st[0]), fmt(*st[1]), fmt(*st[2])))
    if peers and tpools:
        out += ["", "Ratios, > 1: tpool better (throughput tpool/peer, "
                "latency peer/tpool); range from pairing the min-max ranges; "
                "tpool with T threads against Celery with T children.",
                "", "| worker processes | tpool | against | throughput | p50 "
                "| p99 |", "|---|---|---|---|---|---|"]
        for w in workers:
            for tp in tpools:
                t = stats.get((tp, w))
                conc = tp.partition("/")[2]
                for p in peers:
                    pb, _, pc = p.partition("/")
                    if pc and pc != conc:
                        continue
                    q = stats.get((p, w))
                    if not t or not q:
                        continue
                    out.append("| %d | %s threads | %s | %s | %s | %s |" % (
                        w, conc, name(p), ratio(t[0], q[0]),
                        ratio(q[1], t[1]), ratio(q[2], t[2])))
    if xrows:
        un = stat([r[0] for r in xrows])
        pi = stat([r[1] for r in xrows])
        out += ["", "The engine's ceiling: redis-benchmark XADD of the same "
                "(empty) payload on the same server flags, 50 connections, "
                "once per round (requests/s): unpipelined %s, pipelined by "
                "64 %s." % (fmt(*un), fmt(*pi))]
        if tpools:
            out += ["", "Unpipelined XADD rate / tpool's tasks/s (the "
                    "target: at most 2; range from pairing the min-max "
                    "ranges):", "", "| worker processes | "
                    + " | ".join("tpool, %s threads" % t.partition("/")[2]
                                 for t in tpools) + " |",
                    "|---|" + "---|" * len(tpools)]
            for w in workers:
                cols = []
                for tp in tpools:
                    t = stats.get((tp, w))
                    if not t:
                        cols.append("")
                        continue
                    (am, alo, ahi), (bm, blo, bhi) = un, t[0]
                    cols.append("%.1fx [%.1f-%.1f]" % (am / bm, alo / bhi,
                                                       ahi / blo))
                out.append("| %d | %s |" % (w, " | ".join(cols)))
    if xadd:
        out += ["", "redis-benchmark's own lines, last round:", "", "```"] + \
            xadd + ["```"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
