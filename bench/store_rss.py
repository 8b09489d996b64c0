#!/usr/bin/python3
"""Peak resident memory of a server process and all its descendants, for bench/store_bench.sh.

Usage: store_rss.py PID OUTFILE [INTERVAL_S]
       store_rss.py --now PID      (prints the tree's current VmRSS sum in KiB and exits)

Every INTERVAL_S seconds (default 0.1) it finds PID's process tree (by scanning /proc/*/stat for
parent ids, so forked children such as `storescp --fork` workers are included), sums VmRSS over
the tree, and keeps the maximum.  It also remembers the largest VmHWM seen for each process.
It stops when PID exits or on SIGTERM/SIGINT and writes one line to OUTFILE:

    peak_tree_rss_kib=N root_hwm_kib=N sum_hwm_kib=N samples=N max_procs=N cpu_s=X

peak_tree_rss_kib is the figure the benchmark reports (maxed with root_hwm_kib, the kernel's own
peak for the root process, so a spike between samples of a single-process server is not missed);
sum_hwm_kib (each process's own peak, summed) is an upper bound for multi-process servers.
cpu_s is the CPU time (user + system) the tree used between the first and the last sample: the
root's own and its reaped children's time (cutime/cstime) plus that of the descendants still
present (alive or not yet reaped) at the sample.
"""

import os
import signal
import sys
import time

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def status_kib(pid):
    """(VmRSS, VmHWM) in KiB for pid, or None when it is gone."""
    rss = hwm = 0
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        return None
    return rss, hwm


CLK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid, with_children):
    """utime + stime (+ cutime + cstime) of pid in clock ticks, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    v = s[s.rfind(")") + 2:].split()
    t = int(v[11]) + int(v[12])  # fields 14, 15 of proc(5)
    if with_children:
        t += int(v[13]) + int(v[14])  # fields 16, 17
    return t


def tree(root):
    """root and every descendant pid."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        # the command name may hold spaces or ')': parse after the last ')'
        rest = s[s.rfind(")") + 2:].split()
        if len(rest) > 1:
            children.setdefault(int(rest[1]), []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--now":
        root = int(sys.argv[2])
        if status_kib(root) is None:
            return 1
        print(sum((status_kib(p) or (0, 0))[0] for p in tree(root)))
        return 0
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    root = int(sys.argv[1])
    outfile = sys.argv[2]
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    peak = root_hwm = samples = max_procs = 0
    hwm = {}
    cpu0 = cpu_last = None
    while True:  # sample, then stop if asked (so the last sample is taken after the signal)
        st = status_kib(root)
        if st is None:
            break
        root_hwm = max(root_hwm, st[1])
        total = 0
        pids = tree(root)
        for p in pids:
            s = st if p == root else status_kib(p)
            if s is None:
                continue
            total += s[0]
            hwm[p] = max(hwm.get(p, 0), s[1])
        peak = max(peak, total)
        c = cpu_ticks(root, True)
        if c is not None:
            c += sum(cpu_ticks(p, False) or 0 for p in pids if p != root)
            cpu_last = c
            if cpu0 is None:
                cpu0 = c
        max_procs = max(max_procs, len(pids))
        samples += 1
        if stop:
            break
        time.sleep(interval)
    with open(outfile, "w") as f:
        cpu = ((cpu_last - cpu0) / float(CLK)) if cpu0 is not None else 0.0
        f.write("peak_tree_rss_kib=%d root_hwm_kib=%d sum_hwm_kib=%d samples=%d max_procs=%d "
                "cpu_s=%.2f\n"
                % (max(peak, root_hwm), root_hwm, sum(hwm.values()), samples, max_procs, cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
