#!/usr/bin/python3
"""masakari-restart vs masakari-instancemonitor, inside a test node prepared by `run`.

Measures, against the real Masakari API + engine and real qemu (TCG) guests:
  * CPU and wall time of one masakari-restart monitor (agent + its virsh child);
  * time from a guest's death (kill -9 of its qemu) to the notification stored by Masakari,
    for masakari-restart polled every 2/5/10 s (as Pacemaker's monitor interval would), for
    masakari-restart with event_wait=25s (monitors that listen for libvirt events), and for
    masakari-instancemonitor (a resident libvirt event client);
  * masakari-instancemonitor's resident memory and idle CPU over the same period.
Usage: bench.py ENV_DIR AGENT RUNS
"""
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
import urllib.request

MASAKARI = "http://127.0.0.1:15868/v1"
ENV_DIR, AGENT, RUNS = sys.argv[1], sys.argv[2], int(sys.argv[3])
GUEST, UUID = "guest1", "8c1b2a6e-3f4d-4c2b-9a7e-5d6f7a8b9c01"
AGENT_ENV = dict(os.environ, OCF_ROOT="/usr/lib/ocf", OCF_RESOURCE_INSTANCE="bench",
                 OCF_RESKEY_auth_mode="noauth", OCF_RESKEY_masakari_url=MASAKARI,
                 OCF_RESKEY_hostname="node1", OCF_RESKEY_state_dir="/run/bench-mr",
                 # Polling only unless a setting says otherwise (the agent's default listens).
                 OCF_RESKEY_event_wait="0",
                 OCF_RESKEY_CRM_meta_interval="10000", OCF_RESKEY_CRM_meta_timeout="20000")


def virsh(*args):
    return subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True,
                          env=dict(os.environ, LC_ALL="C")).stdout.strip()


def agent(action, extra=None):
    env = dict(AGENT_ENV, **(extra or {}))
    return subprocess.run([AGENT, action], env=env, capture_output=True, text=True)


def stored_count():
    with urllib.request.urlopen(MASAKARI + "/notifications?limit=1000", timeout=5) as r:
        ns = json.load(r)["notifications"]
    return sum(1 for n in ns if n["payload"].get("instance_uuid") == UUID
               and n["payload"].get("vir_domain_event") == "STOPPED_FAILED")


def wait(what, probe, timeout=120, every=0.05):
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit("bench: timed out waiting for " + what)
        time.sleep(every)


def crash_and_time():
    """Kills the guest, returns seconds until Masakari stored a new STOPPED_FAILED for it."""
    before = stored_count()
    with open("/run/libvirt/qemu/%s.pid" % GUEST) as f:
        pid = int(f.read())
    t0 = time.monotonic()
    os.kill(pid, 9)
    wait("the notification", lambda: stored_count() > before, every=0.02)
    latency = time.monotonic() - t0
    # No nova here: the guest is started again by the benchmark, as nova would.
    virsh("start", GUEST)
    wait("guest running again", lambda: virsh("domstate", GUEST) == "running")
    return latency


def cpu_per_poll(polls):
    agent("start")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    for _ in range(polls):
        r = agent("monitor")
        if r.returncode != 0:
            raise SystemExit("bench: monitor failed: " + r.stderr)
    wall = (time.monotonic() - t0) / polls
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / polls
    return cpu, wall, after.ru_maxrss


def polling_latencies(interval, runs, extra=None):
    stop = threading.Event()

    def scheduler():
        # Pacemaker runs the next recurring monitor `interval` after the previous one ended.
        while not stop.is_set():
            agent("monitor", extra)
            stop.wait(interval)

    agent("start")
    t = threading.Thread(target=scheduler, daemon=True)
    t.start()
    out = []
    for _ in range(runs):
        time.sleep(random.uniform(0, interval))  # a crash lands at a random point of the cycle
        out.append(crash_and_time())
        time.sleep(interval + 0.5)  # let a monitor see the guest running again (new baseline)
    stop.set()
    t.join()
    agent("stop")
    return out


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def instancemonitor(runs, idle_seconds):
    conf = os.path.join(ENV_DIR, "masakarimonitors.conf")
    with open(conf, "w") as f:
        f.write("""[DEFAULT]
hostname = node1
log_file = %s/instancemonitor.log
[api]
auth_url = http://127.0.0.1:15869/v3
auth_type = password
username = oxha
password = k3ystone-S3cret
project_name = services
user_domain_name = Default
project_domain_name = Default
region = RegionOne
api_interface = public
[libvirt]
connection_uri = qemu:///system
""" % ENV_DIR)
    proc = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import sys; from masakarimonitors.cmd.instancemonitor import main; sys.exit(main())",
         "--config-file", conf],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(ENV_DIR, "instancemonitor.err"), "w"))
    # It has no readiness signal; give it time to connect and register its event callbacks.
    time.sleep(8)
    latencies = [crash_and_time() for _ in range(runs)]
    cpu0, t0 = proc_cpu(proc.pid), time.monotonic()
    time.sleep(idle_seconds)
    idle = (proc_cpu(proc.pid) - cpu0) / (time.monotonic() - t0)
    rss = proc_rss_kib(proc.pid)
    proc.terminate()
    proc.wait()
    return latencies, idle, rss


def stats(xs):
    xs = sorted(xs)
    return "median %.2f s  min %.2f  max %.2f  (n=%d)" % (xs[len(xs) // 2], xs[0], xs[-1], len(xs))


def main():
    cpu, wall, maxrss = cpu_per_poll(100)
    guests = len(virsh("list", "--all", "--name").split())
    print("masakari-restart monitor (%d guests): CPU %.1f ms, wall %.1f ms per poll, peak RSS %d KiB"
          % (guests, cpu * 1000, wall * 1000, maxrss), flush=True)
    ours = {}
    for interval in (2, 5, 10):
        ours[interval] = polling_latencies(interval, RUNS)
        print("masakari-restart interval %2ds: death -> stored: %s" % (interval, stats(ours[interval])),
              flush=True)
    events = polling_latencies(2, RUNS, {"OCF_RESKEY_event_wait": "25s",
                                         "OCF_RESKEY_CRM_meta_timeout": "40000"})
    print("masakari-restart event_wait=25s interval 2s: death -> stored: %s" % stats(events), flush=True)
    idle_window = 30
    theirs, idle_cpu, rss = instancemonitor(RUNS, idle_window)
    print("masakari-instancemonitor (events): death -> stored: %s" % stats(theirs), flush=True)
    print("masakari-instancemonitor: idle CPU %.2f%% of a core, RSS %d KiB" % (idle_cpu * 100, rss))
    ours_idle = cpu / 10
    print()
    print("ratios (masakari-restart / instancemonitor):")
    med = lambda xs: sorted(xs)[len(xs) // 2]
    for interval in (2, 5, 10):
        print("  latency at interval %2ds: %.1fx" % (interval, med(ours[interval]) / med(theirs)))
    print("  latency with event_wait=25s: %.1fx" % (med(events) / med(theirs)))
    if idle_cpu > 0:
        print("  CPU at interval 10s: %.2f%% vs %.2f%% of a core = %.1fx"
              % (ours_idle * 100, idle_cpu * 100, ours_idle / idle_cpu))
    else:
        print("  CPU at interval 10s: %.2f%% of a core vs below the 10 ms clock tick over %d s"
              " (instancemonitor sleeps on its libvirt connection)" % (ours_idle * 100, idle_window))
    print("  resident memory between polls: 0 KiB vs %d KiB (peak during a poll %d KiB)" % (rss, maxrss))


if __name__ == "__main__":
    main()
