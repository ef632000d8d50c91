#!/usr/bin/env python3
"""Checks the PromQL of the Grafana dashboard and of the alert rules against what the exporter
really exports: the golden exposition files tests/metrics/testdata/*.prom (metric names with
their _bucket/_sum/_count series, label names, step names, failure reasons).

  promql_check.py dashboard REPO_ROOT   grafana/smtp_exporter.json: valid JSON, schema version,
                                        variables datasource/job/target, every panel query
  promql_check.py rules REPO_ROOT       deploy/prometheus/rules/*.yml: every expression; every
                                        alert has summary, description and a runbook_url whose
                                        section exists in RUNBOOK.md; tests/deploy/rules_test.yml
                                        tests every alert firing and not firing
Each expression (dashboard variables substituted: $job/$target -> .*, $__rate_interval and
friends -> 5m) must parse (promtool check rules on a generated rule file) and may name only
metrics and labels the exporter exports, plus Prometheus' own `up`, `job` and `instance`.
Exit 0 pass, 1 fail, 77 skipped (promtool missing).

  promql_check.py queries REPO_ROOT [NAME=VALUE...]
                                        prints every dashboard query (variables and panels), one
                                        JSON object a line {"where", "expr", "label"}, with the
                                        given values substituted (job, target, __rate_interval,
                                        __interval, __range; defaults as above); for variables
                                        "expr" is the series selector of label_values() and
                                        "label" its label. Used by tests/e2e/alerts_e2e_test.sh.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
            "offset", "bool", "inf", "nan", "Inf", "NaN"}
PROMETHEUS_METRICS = {"up"}                  # made by Prometheus for every scrape
PROMETHEUS_LABELS = {"job", "instance", "__name__"}
# Added by the exporter only for some target kinds, which no golden file shows (daemon/exporter.cc).
EXPANSION_LABELS = {"domain", "ip"}

failures = []


def fail(message):
    failures.append(message)
    print("FAIL " + message)


def golden(root):
    metrics, labels, values = set(), set(), {}
    help_text = ""
    for path in glob.glob(os.path.join(root, "tests/metrics/testdata/*.prom")):
        for line in open(path, encoding="utf-8"):
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split()
                metrics.add(name)
                if kind == "histogram":
                    metrics.update({name + "_bucket", name + "_sum", name + "_count"})
                elif kind == "summary":
                    metrics.update({name + "_sum", name + "_count"})
            elif line.startswith("# HELP"):
                help_text += line
            elif line.strip() and not line.startswith("#"):
                m = re.match(r"([a-zA-Z_:][\w:]*)(\{(.*)\})?", line)
                for k, v in re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""):
                    labels.add(k)
                    values.setdefault(k, set()).add(v)
    if not metrics:
        fail("no golden files in tests/metrics/testdata")
    # The failure reasons are a closed set listed in the HELP of smtp_probe_failure_info.
    m = re.search(r"# HELP smtp_probe_failure_info .*?\(([a-z_, ]+)\)", help_text)
    if m:
        values["reason"] = {r.strip() for r in m.group(1).split(",")}
    return metrics, labels | PROMETHEUS_LABELS | EXPANSION_LABELS, values


SUBSTITUTES = {"job": ".*", "target": ".*", "__rate_interval": "5m", "__interval": "5m",
               "__range": "5m", "__range_s": "5m"}


def substitute(expr, values=None):
    v = dict(SUBSTITUTES, **(values or {}))
    expr = re.sub(r"\$\{?(job|target)(:\w+)?\}?", lambda m: v[m.group(1)], expr)
    expr = re.sub(r"\$\{?(__(?:rate_interval|interval|range_s|range))\}?", lambda m: v[m.group(1)],
                  expr)
    return expr


def dashboard_queries(root, values):
    """[{where, expr, label}] of every variable and panel query, with values substituted."""
    dash = json.load(open(os.path.join(root, "grafana/smtp_exporter.json"), encoding="utf-8"))
    queries = []
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q.strip())
            if m:
                queries.append({"where": f"variable ${v['name']}",
                                "expr": substitute(m.group(1), values), "label": m.group(2)})

    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))

    for p in walk(dash.get("panels", [])):
        for t in p.get("targets", []) if p.get("type") != "row" else []:
            if t.get("expr"):
                queries.append({"where": f"panel {p.get('title', '?')!r} {t.get('refId')}",
                                "expr": substitute(t["expr"], values), "label": None})
    return queries


def references(expr):
    """(metric names, label names, {label: [matched values]}) an expression refers to."""
    made = set(re.findall(r'label_(?:join|replace)\s*\([^"]*"(\w+)"', re.sub(r"\{[^}]*\}", "", expr)))
    matchers = {}
    for block in re.findall(r"\{([^}]*)\}", expr):
        for name, op, value in re.findall(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)"', block):
            matchers.setdefault(name, []).append((op, value))
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    labels = set(matchers)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        labels.update(l.strip() for l in clause.split(",") if l.strip())
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    metrics = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        if m.group(2) or m.group(1) in KEYWORDS:
            continue
        metrics.add(m.group(1))
    return metrics, labels - made, matchers


def check_exprs(root, exprs, what):
    """exprs: [(where, expr)]. Parses them with promtool and checks their references."""
    metrics, labels, values = golden(root)
    rules = {"groups": [{"name": "check", "rules": [
        {"record": f"check:expr_{i}", "expr": substitute(e)} for i, (_, e) in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(rules, f)
    result = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    os.unlink(f.name)
    if result.returncode != 0:
        fail(f"{what}: promtool cannot parse some expressions:\n{result.stdout}{result.stderr}")
    used = set()
    for where, expr in exprs:
        names, label_names, matchers = references(substitute(expr))
        if not names:
            fail(f"{where}: refers to no metric: {expr}")
        for name in sorted(names - metrics - PROMETHEUS_METRICS):
            fail(f"{where}: metric {name} is not exported (not in the golden files): {expr}")
        for label in sorted(label_names - labels):
            fail(f"{where}: label {label} is not exported: {expr}")
        for label in ("step", "reason"):
            for op, value in matchers.get(label, []):
                for v in value.split("|") if op in ("=~", "!~") else [value]:
                    if v not in values.get(label, set()) and not re.search(r"[.*+?\[]", v):
                        fail(f"{where}: {label}=\"{v}\" never occurs: {expr}")
        used |= names
    print(f"ok   {what}: {len(exprs)} expressions parse and use only exported metrics: "
          + ", ".join(sorted(used)))


def dashboard(root):
    path = os.path.join(root, "grafana/smtp_exporter.json")
    try:
        dash = json.load(open(path, encoding="utf-8"))
    except ValueError as e:
        fail(f"{path}: invalid JSON: {e}")
        return
    print(f"ok   {path} is valid JSON")
    if dash.get("schemaVersion", 0) < 36:
        fail(f"schemaVersion {dash.get('schemaVersion')} is older than Grafana 9 (36)")
    if not dash.get("uid") or not dash.get("title"):
        fail("dashboard needs a uid and a title")
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    for name in ("datasource", "job", "target"):
        if name not in variables:
            fail(f"variable ${name} missing")
    if variables.get("datasource", {}).get("type") != "datasource":
        fail("$datasource must be a datasource variable")
    exprs = []
    for name, v in variables.items():
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q.strip())
            if not m:
                fail(f"variable ${name}: unexpected query {q}")
                continue
            exprs.append((f"variable ${name}", m.group(1)))
            _, labels, _ = golden(root)
            if m.group(2) not in labels:
                fail(f"variable ${name}: label {m.group(2)} is not exported")

    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))

    ids, count = set(), 0
    for p in walk(dash.get("panels", [])):
        if p.get("id") in ids:
            fail(f"panel id {p.get('id')} used twice")
        ids.add(p.get("id"))
        if p.get("type") == "row":
            continue
        count += 1
        title = p.get("title", "?")
        if not p.get("targets"):
            fail(f"panel {title!r} has no queries")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            fail(f"panel {title!r} does not use the $datasource variable")
        for t in p.get("targets", []):
            if not t.get("expr"):
                fail(f"panel {title!r} query {t.get('refId')} has no expr")
                continue
            if t.get("datasource", {}).get("uid") != "${datasource}":
                fail(f"panel {title!r} query {t.get('refId')} does not use $datasource")
            exprs.append((f"panel {title!r} {t.get('refId')}", t["expr"]))
            if "smtp_" in t["expr"] and "$job" not in t["expr"]:
                fail(f"panel {title!r} query {t.get('refId')} ignores $job")
    print(f"ok   {count} panels, all on $datasource")
    check_exprs(root, exprs, "dashboard")


def rules(root):
    rule_files = glob.glob(os.path.join(root, "deploy/prometheus/rules/*.yml"))
    runbook = open(os.path.join(root, "deploy/prometheus/RUNBOOK.md"), encoding="utf-8").read()
    anchors = {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.*)$", runbook, re.M)}
    exprs, alerts = [], []
    for path in rule_files:
        for group in yaml.safe_load(open(path, encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                exprs.append((f"rule {name}", rule["expr"]))
                if "alert" not in rule:
                    continue
                alerts.append(name)
                ann = rule.get("annotations", {})
                for key in ("summary", "description", "runbook_url"):
                    if not ann.get(key):
                        fail(f"alert {name}: no {key} annotation")
                anchor = ann.get("runbook_url", "").partition("#")[2]
                if anchor not in anchors:
                    fail(f"alert {name}: runbook anchor #{anchor} is no heading of RUNBOOK.md")
                if rule.get("labels", {}).get("severity") not in ("warning", "critical"):
                    fail(f"alert {name}: severity must be warning or critical")
    print(f"ok   {len(alerts)} alerts with summary, description, severity and a runbook section")
    check_exprs(root, exprs, "alert rules")

    tests = yaml.safe_load(open(os.path.join(root, "tests/deploy/rules_test.yml"), encoding="utf-8"))
    firing, quiet = set(), set()
    for test in tests["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    for name in alerts:
        if name not in firing:
            fail(f"alert {name}: rules_test.yml never expects it to fire")
        if name not in quiet:
            fail(f"alert {name}: rules_test.yml never expects it to stay quiet")
    for name in (firing | quiet) - set(alerts):
        fail(f"rules_test.yml tests unknown alert {name}")
    print(f"ok   rules_test.yml tests all {len(alerts)} alerts firing and not firing")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "queries":
        values = dict(a.split("=", 1) for a in sys.argv[3:])
        for q in dashboard_queries(sys.argv[2], values):
            print(json.dumps(q))
        return 0
    if len(sys.argv) != 3 or sys.argv[1] not in ("dashboard", "rules"):
        print(__doc__)
        return 2
    if not shutil.which("promtool"):
        print("promtool not found (apt-get install prometheus); skipping")
        return 77
    {"dashboard": dashboard, "rules": rules}[sys.argv[1]](sys.argv[2])
    print(f"{len(failures)} failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
