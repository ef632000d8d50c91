#!/usr/bin/env python3
"""The measuring side of bench/soak.sh (not run by hand; soak.sh passes every argument).

Once a second, until the daemon has finished --probes probes (smtp_exporter_probes_total):
  - GET /metrics and GET / (status, wall time, size; every failure counted),
  - the daemon's VmRSS, VmHWM, open file descriptors (/proc/PID/fd) and CPU time,
  - from /metrics, each target's latest probe: smtp_probe_duration_seconds, the failing step and
    reason (smtp_probe_failure_info) or success, the relay verdict, keyed by
    smtp_probe_last_run_timestamp_seconds so that each probe is counted once however many scrapes
    see it (a result stays on /metrics for a whole interval, longer than the 1 s between scrapes,
    so nearly every probe is seen; the "seen" column says how many).
At 0, 25, 50, 75 and 100 % of the probes it prints one row of the table. At the end it prints the
outcome of every seen probe per scenario, the deadline check (every seen probe's duration against
its scenario's deadline) and the flatness figures, and writes them as key=value lines to
--summary for soak.sh.
"""
import argparse
import os
import re
import statistics
import sys
import time
import urllib.error
import urllib.request

SCENARIOS = ["silence", "drip", "longline", "garbage", "reset", "tlsgarbage", "catchall", "tarpit"]
WANTED = (r"smtp_probe_duration_seconds|smtp_probe_last_run_timestamp_seconds|"
          r"smtp_probe_failure_info|smtp_probe_success|smtp_relay_open|smtp_relay_verdict|"
          r"smtp_rcpt_catch_all|smtp_exporter_probes_total|smtp_exporter_probes_in_flight")
LINE = re.compile(r"^(" + WANTED + r")(?:\{([^\n]*)\})? (\S+)$", re.M)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
HZ = os.sysconf("SC_CLK_TCK")


def get(url, timeout):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
            return response.status, time.monotonic() - start, body
    except urllib.error.HTTPError as e:
        return e.code, time.monotonic() - start, b""
    except Exception:  # timeout, reset, refused: a failed scrape
        return 0, time.monotonic() - start, b""


def proc(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    out["cpu"] = (int(fields[11]) + int(fields[12])) / HZ
    return out


def quantile(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--probes", type=int, required=True)
    ap.add_argument("--port-base", type=int, required=True)
    ap.add_argument("--deadline", action="append", default=[], help="scenario=seconds")
    ap.add_argument("--margin", type=float, required=True)
    ap.add_argument("--max-seconds", type=float, required=True)
    ap.add_argument("--server-stats", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--save-scrape", help="where to keep the last /metrics")
    ap.add_argument("--samples", help="where to write one line per second: elapsed_s probes "
                    "rss_kib fds in_flight metrics_ms")
    args = ap.parse_args()
    deadlines = {k: float(v) for k, v in (d.split("=") for d in args.deadline)}

    def scenario_of(target):
        try:
            index = int(target.rsplit(":", 1)[1]) - args.port_base
            return SCENARIOS[index] if 0 <= index < len(SCENARIOS) else "other"
        except ValueError:
            return "other"

    last_run = {}          # target -> last_run timestamp already counted
    window = []            # durations of the probes seen since the last row
    per_scenario_max = {s: 0.0 for s in SCENARIOS}
    over = {s: 0 for s in SCENARIOS}
    worst = {}             # scenario -> (duration, target, outcome) of its longest probe
    outcomes = {}          # (scenario, outcome) -> probes
    relay = {}             # (scenario, what) -> probes
    seen_total = 0
    late = []              # (last_run, duration, target, outcome, elapsed) over the deadline
    samples = []           # (elapsed, rss, fds, in_flight)
    scrape_times = {"metrics": [], "status": []}
    scrape_fail = {"metrics": 0, "status": 0}
    rows = []
    marks = [0.0, 0.25, 0.5, 0.75, 1.0]
    start = time.monotonic()
    cpu0 = proc(args.pid)["cpu"]
    last_text = b""
    sample_file = open(args.samples, "w") if args.samples else None
    print("%5s %9s %7s %7s %8s %8s %5s %7s %6s %9s %9s %9s %7s %8s %8s %6s %8s %6s %8s %5s" % (
        "pct", "probes", "elap_s", "rate/s", "rss_MiB", "hwm_MiB", "fds", "fds_med", "infl",
        "dur_p50ms", "dur_p99ms", "dur_maxms", "seen", "met_p50", "met_max", "met_f",
        "stat_max", "stat_f", "srv_max", "load1"), flush=True)
    tick = start - 1.0  # the 0 % row is sampled at once
    probes = 0.0
    while True:
        tick += 1.0
        delay = tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if not os.path.exists(f"/proc/{args.pid}"):
            print("soak_monitor: the daemon exited", file=sys.stderr)
            write_summary(args.summary, {"daemon_died": 1})
            return 1
        elapsed = time.monotonic() - start
        code, seconds, body = get(args.url + "/metrics", 10)
        if code == 200 and body:
            scrape_times["metrics"].append(seconds)
            last_text = body
        else:
            scrape_fail["metrics"] += 1
        code_s, seconds_s, _ = get(args.url + "/", 10)
        if code_s == 200:
            scrape_times["status"].append(seconds_s)
        else:
            scrape_fail["status"] += 1
        p = proc(args.pid)
        in_flight = float("nan")
        if code == 200 and body:
            text = body.decode("utf-8", "replace")
            per_target = {}
            total = 0.0
            for m in LINE.finditer(text):
                name, labels, value = m.group(1), m.group(2) or "", m.group(3)
                if name == "smtp_exporter_probes_total":
                    total += float(value)
                    continue
                if name == "smtp_exporter_probes_in_flight":
                    in_flight = float(value)
                    continue
                lab = dict(LABEL.findall(labels))
                target = lab.get("target")
                if target is None:
                    continue
                t = per_target.setdefault(target, {})
                if name == "smtp_probe_failure_info":
                    if float(value) == 1:
                        t["failure"] = "%s/%s" % (lab.get("step"), lab.get("reason"))
                elif name == "smtp_relay_verdict":
                    if float(value) == 1:
                        t["verdict"] = lab.get("verdict")
                else:
                    t[name] = float(value)
            probes = max(probes, total)
            for target, t in per_target.items():
                run = t.get("smtp_probe_last_run_timestamp_seconds")
                duration = t.get("smtp_probe_duration_seconds")
                if run is None or duration is None or last_run.get(target) == run:
                    continue
                last_run[target] = run
                scenario = scenario_of(target)
                if scenario == "other":
                    continue
                seen_total += 1
                window.append(duration)
                outcome = t.get("failure") or ("success" if t.get("smtp_probe_success") == 1
                                               else "no_failure_info")
                outcomes[(scenario, outcome)] = outcomes.get((scenario, outcome), 0) + 1
                if "verdict" in t or "smtp_relay_open" in t:
                    what = "verdict=%s relay_open=%s catch_all=%s" % (
                        t.get("verdict", "-"), fmt(t.get("smtp_relay_open")),
                        fmt(t.get("smtp_rcpt_catch_all")))
                    relay[(scenario, what)] = relay.get((scenario, what), 0) + 1
                if duration > per_scenario_max[scenario]:
                    per_scenario_max[scenario] = duration
                    worst[scenario] = (duration, target, outcome)
                if duration > deadlines.get(scenario, 0) + args.margin:
                    over[scenario] += 1
                    late.append((run, duration, target, outcome, elapsed))
        samples.append((elapsed, p["VmRSS"], p["fds"], in_flight))
        if sample_file:
            sample_file.write("%.1f %d %d %d %g %.1f\n" % (
                elapsed, probes, p["VmRSS"], p["fds"], in_flight,
                seconds * 1000 if code == 200 else float("nan")))
        while marks and probes >= marks[0] * args.probes:
            mark = marks.pop(0)
            recent = [s[2] for s in samples[-30:]]
            met = scrape_times["metrics"]
            row = {
                "pct": int(mark * 100), "probes": int(probes), "elapsed": elapsed,
                "rate": probes / elapsed if mark > 0 else float("nan"),
                "rss": p["VmRSS"] / 1024, "hwm": p["VmHWM"] / 1024, "fds": p["fds"],
                "fds_med": statistics.median(recent), "in_flight": in_flight,
                "p50": quantile(window, 0.5) * 1000, "p99": quantile(window, 0.99) * 1000,
                "max": (max(window) if window else float("nan")) * 1000, "seen": len(window),
                "met_p50": quantile(met, 0.5) * 1000, "met_max": max(met or [float("nan")]) * 1000,
                "met_f": scrape_fail["metrics"],
                "stat_max": max(scrape_times["status"] or [float("nan")]) * 1000,
                "stat_f": scrape_fail["status"],
                "srv_max": server_max_life(args.server_stats),
                "load1": float(open("/proc/loadavg").read().split()[0]),
            }
            rows.append(row)
            window = []
            print("%4d%% %9d %7.0f %7.1f %8.1f %8.1f %5d %7.0f %6.0f %9.1f %9.1f %9.1f %7d "
                  "%8.1f %8.1f %6d %8.1f %6d %8.0f %5.2f" % (
                      row["pct"], row["probes"], row["elapsed"], row["rate"], row["rss"],
                      row["hwm"], row["fds"], row["fds_med"], row["in_flight"], row["p50"],
                      row["p99"], row["max"], row["seen"], row["met_p50"], row["met_max"],
                      row["met_f"], row["stat_max"], row["stat_f"], row["srv_max"],
                      row["load1"]), flush=True)
        if not marks:
            break
        if elapsed > args.max_seconds:
            print("soak_monitor: gave up after %.0f s at %d probes" % (elapsed, probes),
                  file=sys.stderr)
            break
    cpu = proc(args.pid)["cpu"] - cpu0
    if args.save_scrape and last_text:
        with open(args.save_scrape, "wb") as f:
            f.write(last_text)

    print("(pct: share of the probes done, by smtp_exporter_probes_total; rss/hwm: VmRSS/VmHWM; fds:")
    print(" /proc/PID/fd at the row, fds_med: median of the last 30 one-second samples; infl:")
    print(" smtp_exporter_probes_in_flight; dur_*: smtp_probe_duration_seconds of the probes seen")
    print(" since the previous row, each counted once; met_*/stat_*: GET /metrics and GET / wall")
    print(" time in ms over the whole run so far, and failed scrapes (non-200, reset, > 10 s);")
    print(" srv_max: longest TCP session soak_server has seen end so far, ms; load1: load average)")
    print()
    print("outcome of every seen probe, per scenario (failing step/reason, or success):")
    for scenario in SCENARIOS:
        parts = ["%s=%d" % (o, n) for (s, o), n in sorted(outcomes.items()) if s == scenario]
        print("  %-10s %s" % (scenario, " ".join(parts) or "(none seen)"))
    print("relay test of the seen probes (verdict state set, smtp_relay_open, smtp_rcpt_catch_all):")
    for (scenario, what), n in sorted(relay.items()):
        print("  %-10s %s: %d" % (scenario, what, n))
    print()
    print("deadline (daemon side): smtp_probe_duration_seconds of every seen probe against its")
    print("scenario's deadline (module timeout, plus relay_test.timeout where the relay test runs)")
    print("plus a margin of %.0f ms:" % (args.margin * 1000))
    for scenario in SCENARIOS:
        w = worst.get(scenario)
        print("  %-10s deadline %5.2f s  max %6.3f s  over %d%s" % (
            scenario, deadlines.get(scenario, float("nan")), per_scenario_max[scenario],
            over[scenario], ("  (longest: %s, %s)" % (w[1], w[2])) if w else ""))

    if late:
        print("probes over their deadline (first 20; started = last_run_timestamp, UTC):")
        for run, duration, target, outcome, at in late[:20]:
            print("  %s  %6.3f s  %-22s %-18s (seen %.0f s into the run)" % (
                time.strftime("%H:%M:%S", time.gmtime(run)) + ".%03d" % (run % 1 * 1000),
                duration, target, outcome, at))

    summary = {"probes": int(probes), "seconds": round(time.monotonic() - start, 1),
               "seen": seen_total, "over_deadline": sum(over.values()),
               "daemon_cpu_seconds": round(cpu, 1),
               "monitor_cpu_seconds": round(sum(os.times()[:2]), 1), "metrics_failures": scrape_fail["metrics"],
               "status_failures": scrape_fail["status"], "finished": int(not marks)}
    by = {r["pct"]: r for r in rows}
    if 25 in by and 100 in by:
        summary["rss_growth_mib"] = "%+.2f" % (by[100]["rss"] - by[25]["rss"])
        summary["rss_growth_pct"] = "%+.2f" % ((by[100]["rss"] / by[25]["rss"] - 1) * 100)
        summary["rss_25_mib"] = round(by[25]["rss"], 1)
        summary["rss_100_mib"] = round(by[100]["rss"], 1)
        summary["fds_med_25"] = by[25]["fds_med"]
        summary["fds_med_100"] = by[100]["fds_med"]
        summary["fds_growth"] = "%+g" % (by[100]["fds_med"] - by[25]["fds_med"])
        after = [x for x in samples if x[0] >= by[25]["elapsed"]]
        summary["rss_range_mib"] = "%.1f..%.1f" % (min(x[1] for x in after) / 1024,
                                                  max(x[1] for x in after) / 1024)
        summary["fds_range"] = "%d..%d" % (min(x[2] for x in after), max(x[2] for x in after))
    catch_open = sum(n for (s, w), n in relay.items()
                     if s == "catchall" and ("verdict=open" in w or "relay_open=1" in w))
    catch_flagged = sum(n for (s, w), n in relay.items() if s == "catchall" and "catch_all=1" in w)
    summary["catchall_open"] = catch_open
    summary["catchall_flagged"] = catch_flagged
    summary["catchall_seen"] = sum(n for (s, w), n in relay.items() if s == "catchall")
    summary["tarpit_open"] = sum(n for (s, w), n in relay.items()
                                 if s == "tarpit" and ("verdict=open" in w or "relay_open=1" in w))
    write_summary(args.summary, summary)
    return 0


def server_max_life(path):
    """The longest session lifetime soak_server has recorded so far (its --stats file), in ms."""
    try:
        with open(path) as f:
            values = [int(m) for m in re.findall(r"max_life_ms=(\d+)", f.read())]
        return max(values) if values else float("nan")
    except OSError:
        return float("nan")


def fmt(value):
    return "-" if value is None else "%g" % value


def write_summary(path, summary):
    with open(path, "w") as f:
        for key, value in summary.items():
            f.write("%s=%s\n" % (key, value))


if __name__ == "__main__":
    sys.exit(main())
