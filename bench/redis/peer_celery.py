#!/usr/bin/python3
"""Celery as a peer of the Redis module's benchmark (bench/redis/run.sh).

  peer_celery.py WORKERS TASKS ROUNDTRIPS

Measures what tpr_bench does (peer_common.py) with Celery 5.2 (Debian's
python3-celery; run by /usr/bin/python3, whose packages those are): a
private redis-server is both the broker and the result backend, over its
unix socket (redis+socket://).  WORKERS `celery worker` processes, each
with the prefork pool at CELERY_CONCURRENCY (default 1) child processes;
every other setting is Celery's default (acknowledgement before the task
runs, a prefetch of 4 per child, json), less what a benchmark does not
need: gossip, mingle and event heartbeats off, logging at WARNING.  A
submit is `noop.apply_async()`; one result is AsyncResult.get(), all of
them ResultSet.get() (the redis backend's native join: it waits on the
results' pub/sub channels, no polling).

This file is also the Celery app the workers load (-A peer_celery): the
socket comes from TPR_PEER_SOCK.
"""
import os

from celery import Celery
from celery.result import ResultSet
from celery.signals import worker_ready

import peer_common as pc


def configure(app, sock):
    url = "redis+socket://" + sock
    app.conf.update(broker_url=url, result_backend=url,
                    worker_hijack_root_logger=False)


app = Celery("peer_celery")
configure(app, os.environ.get("TPR_PEER_SOCK", "/nonexistent"))


@app.task(name="noop")
def noop():
    return None


@worker_ready.connect
def _ready(sender=None, **_):
    # The client waits for one file per worker before it times anything.
    open(os.path.join(os.environ["TPR_PEER_READY"],
                      "ready-%d" % os.getpid()), "w").close()


def main():
    workers, tasks, rts = pc.args()
    conc = os.environ.get("CELERY_CONCURRENCY", "1")
    srv = pc.Server()
    ws = pc.Workers()
    try:
        import redis
        srv.wait_ready(lambda: redis.Redis(unix_socket_path=srv.sock))
        configure(app, srv.sock)
        env = pc.env_with_path()
        env["TPR_PEER_SOCK"] = srv.sock
        env["TPR_PEER_READY"] = srv.dir
        logs = []
        for i in range(workers):
            log = os.path.join(srv.dir, "celery-%d.log" % i)
            logs.append(log)
            ws.spawn(["/usr/bin/python3", "-m", "celery", "-A", "peer_celery",
                      "worker", "-P", "prefork", "-c", conc,
                      "-n", "w%d@%%h" % i, "-l", "WARNING",
                      "--without-gossip", "--without-mingle",
                      "--without-heartbeat"], env, log)

        def all_ready():
            ws.check_alive(logs)
            n = sum(1 for f in os.listdir(srv.dir) if f.startswith("ready-"))
            return n >= workers
        pc.poll(all_ready, 60, "the Celery workers")
        pc.measure(workers, tasks, rts,
                   submit=lambda: noop.apply_async(),
                   wait=lambda r: r.get(timeout=30),
                   wait_all=lambda rs: ResultSet(rs).get(timeout=300))
    finally:
        ws.stop()
        srv.stop()


if __name__ == "__main__":
    main()
