#!/usr/bin/env python3
"""Keeps deploy/kubernetes/base/prometheusrule.yaml equal to deploy/prometheus/rules/*.rules.yml.

The PrometheusRule's spec.groups must be the rule file's groups (parsed YAML, compared exactly).
  prometheusrule_sync.py REPO_ROOT           check (exit 1 when they differ)
  prometheusrule_sync.py REPO_ROOT --write   regenerate the PrometheusRule from the rule file
"""
import os
import sys

import yaml

HEADER = """\
# GENERATED from deploy/prometheus/rules/smtp_exporter.rules.yml by
#   python3 tests/deploy/prometheusrule_sync.py . --write
# Do not edit here: edit the rule file (tests/deploy checks that the two agree).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: smtp-exporter
  labels:
    app.kubernetes.io/name: smtp-exporter
spec:
"""


def main():
    root = sys.argv[1]
    rules_path = os.path.join(root, "deploy/prometheus/rules/smtp_exporter.rules.yml")
    cr_path = os.path.join(root, "deploy/kubernetes/base/prometheusrule.yaml")
    rules_text = open(rules_path, encoding="utf-8").read()
    if "--write" in sys.argv:
        body = [line for line in rules_text.splitlines() if not line.startswith("#")]
        while body and not body[0].strip():
            body.pop(0)
        with open(cr_path, "w", encoding="utf-8") as out:
            out.write(HEADER + "".join(("  " + l if l.strip() else "") + "\n" for l in body))
        print(f"wrote {cr_path}")
    rules = yaml.safe_load(rules_text)
    cr = yaml.safe_load(open(cr_path, encoding="utf-8"))
    if cr.get("kind") != "PrometheusRule" or cr.get("spec", {}).get("groups") != rules["groups"]:
        print(f"FAIL {cr_path} differs from {rules_path}; regenerate with --write")
        return 1
    alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    print(f"ok   PrometheusRule holds the same {len(alerts)} alerts as the rule file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
