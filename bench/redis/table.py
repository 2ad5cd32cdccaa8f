#!/usr/bin/env python3
"""The Markdown report of bench/redis/run.sh (docs/bench/redis.md).

  table.py RESULTS.tsv XADD.txt META.txt

RESULTS.tsv: one line per measurement: system, round, worker processes,
tasks/s, round trip p50 (us), p99 (us).  XADD.txt: redis-benchmark's two
lines.  META.txt: key=value lines (run.sh writes them).

Every figure is the median over the rounds with its min-max range.  A
ratio is oriented so that > 1 means tpool is better (throughput
tpool/peer, latency peer/tpool); its range pairs the two min-max ranges
(worst case to best case), and where that range holds 1 the difference is
not clear.
"""
import statistics
import sys

FORMS = {
    "tpool": "tpool (2 threads each)",
    "celery": "Celery (prefork, 1 child each)",
    "rq": "RQ (SimpleWorker)",
}
NAMES = {"tpool": "tpool", "celery": "Celery", "rq": "RQ"}


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


def main():
    order, cells = load(sys.argv[1])
    xadd = [l.rstrip() for l in open(sys.argv[2]) if l.strip()]
    meta, notes = {}, []
    for line in open(sys.argv[3]):
        k, _, v = line.rstrip("\n").partition("=")
        if k == "note":
            notes.append(v)
        elif k:
            meta[k] = v
    peers = [s for s in order if s != "tpool"]
    versions = ", ".join(["Redis " + meta.get("redis", "?")] +
                         ["%s %s" % (NAMES[p], meta.get(p, "?"))
                          for p in peers])
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
                w, FORMS.get(s, s), fmt(*st[0]), fmt(*st[1]), fmt(*st[2])))
    if peers and "tpool" in order:
        out += ["", "Ratios, > 1: tpool better (throughput tpool/peer, "
                "latency peer/tpool); range from pairing the min-max ranges.",
                "", "| worker processes | against | throughput | p50 | p99 |",
                "|---|---|---|---|---|"]
        for w in workers:
            t = stats.get(("tpool", w))
            for p in peers:
                q = stats.get((p, w))
                if not t or not q:
                    continue
                out.append("| %d | %s | %s | %s | %s |" % (
                    w, NAMES[p], ratio(t[0], q[0]), ratio(q[1], t[1]),
                    ratio(q[2], t[2])))
    if xadd:
        out += ["", "redis-benchmark XADD, same server flags (requests/s; "
                "unpipelined, then pipelined by 64):", "", "```"] + xadd + \
               ["```"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
