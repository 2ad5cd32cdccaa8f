"""What the Python peers of the Redis benchmark share (peer_celery.py,
peer_rq.py): a private redis-server, worker processes, the two timings.

Each peer program measures the way tpr_bench (redis_bench.c) does, so that
the three lines of a round compare:

  server      a fresh redis-server with tpr_bench's flags (tests/redis/
              harness.h): a unix socket in a mktemp directory, --port 0,
              --save '', appendonly off; killed and removed at the end
  workers     WORKERS processes, started before anything is timed and
              waited for until every one has said it is serving
  warm-up     WARMUP one-at-a-time round trips, not timed
  throughput  TASKS no-op tasks submitted one by one, then a wait for all
              their results; timed from the first submit to the last
              result
  latency     ROUNDTRIPS round trips, one task at a time (submit, wait for
              its result); p50 and p99

and prints tpr_bench's line: workers, tasks/s, p50 us, p99 us (tabs).

Worker processes start in sessions of their own, so that a worker and the
children it forks (Celery's prefork pool) end together: SIGTERM to the
group, then SIGKILL to what is left after a few seconds.  A bounded poll
(10 ms naps, a deadline) stands in for an event only where the state lives
in another process: the server accepting connections, the workers having
registered.
"""
import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def now_us():
    return time.monotonic_ns() // 1000


def poll(cond, seconds, what):
    end = time.monotonic() + seconds
    while not cond():
        if time.monotonic() >= end:
            raise SystemExit("peer: timed out waiting for " + what)
        time.sleep(0.01)


class Server:
    """A private redis-server on a unix socket (tpr_bench's flags)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tpr-peer-")
        self.sock = os.path.join(self.dir, "redis.sock")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock,
             "--unixsocketperm", "700", "--save", "", "--dir", self.dir,
             "--logfile", os.path.join(self.dir, "redis.log"),
             "--appendonly", "no"],
            stdin=subprocess.DEVNULL)

    def wait_ready(self, connect):
        def ready():
            try:
                return connect().ping()
            except Exception:  # not listening yet
                return False
        poll(ready, 10, "redis-server")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Workers:
    """Worker processes, each in a session (a process group) of its own."""

    def __init__(self):
        self.procs = []

    def spawn(self, argv, env, log):
        with open(log, "ab") as f:
            self.procs.append(subprocess.Popen(
                argv, env=env, cwd=HERE, stdin=subprocess.DEVNULL,
                stdout=f, stderr=f, start_new_session=True))

    def check_alive(self, logs):
        for p in self.procs:
            if p.poll() is not None:
                for log in logs:
                    sys.stderr.write(open(log, errors="replace").read())
                raise SystemExit("peer: a worker exited (%d)" % p.returncode)

    def stop(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the pool's children too
            except ProcessLookupError:
                pass
            p.wait()


def env_with_path():
    env = dict(os.environ)
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    return env


def args():
    if len(sys.argv) != 4:
        raise SystemExit("usage: %s WORKERS TASKS ROUNDTRIPS" % sys.argv[0])
    return int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


def measure(workers, tasks, rts, submit, wait, wait_all, warmup=100):
    """Times the two workloads on `submit()` (returns a handle),
    `wait(handle)` and `wait_all(handles)`; prints the result line."""
    for _ in range(warmup):
        wait(submit())
    t0 = now_us()
    handles = [submit() for _ in range(tasks)]
    wait_all(handles)
    t1 = now_us()
    lat = []
    for _ in range(rts):
        a = now_us()
        wait(submit())
        lat.append(now_us() - a)
    lat.sort()
    print("%d\t%.0f\t%d\t%d" % (workers, tasks * 1e6 / (t1 - t0),
                                lat[rts // 2], lat[rts * 99 // 100]),
          flush=True)
    # Finalisers that talk to the server (Celery's AsyncResult) run now,
    # while it is still there, not at exit.
    del handles
    gc.collect()
