#!/usr/bin/python3
"""RQ as a peer of the Redis module's benchmark (bench/redis/run.sh).

  peer_rq.py WORKERS TASKS ROUNDTRIPS

Measures what tpr_bench does (peer_common.py) with RQ 1.13 (Debian's
python3-rq; run by /usr/bin/python3, whose packages those are) on a
private redis-server's unix socket: WORKERS `rq worker` processes of the
class RQ_WORKER names, logging at WARNING.

The default is rq.worker.SimpleWorker, which runs each job in the worker
process itself.  RQ's default Worker forks a child per job (a fresh
process for every no-op, several milliseconds of fork, exit and wait on
this machine): that measures fork(), not the queue, and no other system
here pays it, so SimpleWorker is RQ's cheapest correct form.
RQ_WORKER=rq.worker.Worker measures the forking one.

A submit is Queue.enqueue('peer_rq.noop').  RQ 1.13 has no call that
waits for a result (job.result is a look, the documented way is to poll
it), so a wait here is the cheapest correct one: a blocking XREAD on the
job's result stream (rq:results:ID, which the worker writes in the same
transaction that finishes the job), then a check that the result says
success.  Waiting for all is that wait for each job in turn.
"""
import os

import peer_common as pc


def noop():
    return None


def main():
    import redis
    from rq import Queue, Worker

    workers, tasks, rts = pc.args()
    cls = os.environ.get("RQ_WORKER", "rq.worker.SimpleWorker")
    srv = pc.Server()
    ws = pc.Workers()
    try:
        conn = redis.Redis(unix_socket_path=srv.sock)
        srv.wait_ready(lambda: conn)
        env = pc.env_with_path()
        logs = []
        for i in range(workers):
            log = os.path.join(srv.dir, "rq-%d.log" % i)
            logs.append(log)
            ws.spawn(["/usr/bin/python3", "-m", "rq.cli", "worker",
                      "-w", cls, "-u", "unix://" + srv.sock,
                      "-n", "w%d" % i, "--logging_level", "WARNING",
                      "bench"], env, log)

        def all_ready():
            ws.check_alive(logs)
            return Worker.count(connection=conn) >= workers
        pc.poll(all_ready, 60, "the RQ workers")
        q = Queue("bench", connection=conn)

        def wait(job):
            got = conn.xread({"rq:results:" + job.id: 0}, count=1,
                             block=30000)
            if not got:
                raise SystemExit("peer_rq: no result within 30 s")
            fields = got[0][1][0][1]
            if fields.get(b"type") != b"1":  # Result.Type.SUCCESSFUL
                raise SystemExit("peer_rq: job %s failed: %r" % (job.id,
                                                                 fields))

        def wait_all(jobs):
            for job in jobs:
                wait(job)
        pc.measure(workers, tasks, rts,
                   submit=lambda: q.enqueue("peer_rq.noop"),
                   wait=wait, wait_all=wait_all)
    finally:
        ws.stop()
        srv.stop()


if __name__ == "__main__":
    main()
