#!/usr/bin/env bash
# Checks the observability files against what hubcache really exports:
#   1. the exposition (dumped by a unit test that drives every family) passes `promtool check metrics`;
#   2. conf/prometheus-alerts.yaml passes `promtool check rules`, and `promtool test rules`
#      shows each alert firing on bad series and staying quiet on healthy ones;
#   3. conf/grafana-dashboard.json parses, and each panel query is valid PromQL;
#   4. every metric name and selector label used in the dashboard and the rules is exported.
# Needs cargo, promtool (Debian package `prometheus`) and python3 (standard library only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rules=conf/prometheus-alerts.yaml
dashboard=conf/grafana-dashboard.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "-- exposition"
HUBCACHE_METRICS_DUMP="$tmp/exposition.txt" \
    cargo test --quiet --lib metrics::tests::dump_exposition -- --exact >"$tmp/cargo.log" 2>&1 \
    || { cat "$tmp/cargo.log"; exit 1; }
test -s "$tmp/exposition.txt" || { echo "the dump test wrote no exposition"; exit 1; }
promtool check metrics <"$tmp/exposition.txt"

echo "-- alert rules"
promtool check rules "$rules"
# promtool compares annotations verbatim; test a copy without them (they are templates).
awk '/^ *annotations:/ { ind = match($0, /[^ ]/); skip = 1; next }
     skip { i = match($0, /[^ ]/); if (i == 0 || i > ind) next; skip = 0 }
     { print }' "$rules" >"$tmp/alerts-bare.yaml"
cat >"$tmp/alerts-test.yaml" <<EOF
rule_files: ["$tmp/alerts-bare.yaml"]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - {series: 'up{job="hubcache",instance="a"}', values: '1 1 0x10'}
      - {series: 'up{job="hubcache",instance="b"}', values: '1x12'}
    alert_rule_test:
      - {eval_time: 3m, alertname: HubcacheDown, exp_alerts: []}
      - eval_time: 5m
        alertname: HubcacheDown
        exp_alerts: [{exp_labels: {severity: critical, job: hubcache, instance: a}}]
  - interval: 1m
    input_series:
      - {series: 'hubcache_upstream_requests_total{job="hubcache",instance="a",remote="down",status="error"}', values: '0+60x20'}
      - {series: 'hubcache_upstream_requests_total{job="hubcache",instance="a",remote="down",status="200"}', values: '0x20'}
      - {series: 'hubcache_upstream_requests_total{job="hubcache",instance="a",remote="ok",status="200"}', values: '0+60x20'}
      - {series: 'hubcache_upstream_requests_total{job="hubcache",instance="a",remote="ok",status="503"}', values: '0+1x20'}
    alert_rule_test:
      - {eval_time: 4m, alertname: HubcacheHubUnreachable, exp_alerts: []}
      - eval_time: 10m
        alertname: HubcacheHubUnreachable
        exp_alerts: [{exp_labels: {severity: critical, job: hubcache, instance: a, remote: down}}]
  - interval: 1m
    input_series:
      # a: 10% hits; b: no hit series at all; c: 90% hits.
      - {series: 'hubcache_cache_lookups_total{job="hubcache",instance="a",distribution="d",result="hit"}', values: '0+6x60'}
      - {series: 'hubcache_cache_lookups_total{job="hubcache",instance="a",distribution="d",result="miss"}', values: '0+54x60'}
      - {series: 'hubcache_cache_lookups_total{job="hubcache",instance="b",distribution="d",result="miss"}', values: '0+60x60'}
      - {series: 'hubcache_cache_lookups_total{job="hubcache",instance="c",distribution="d",result="hit"}', values: '0+54x60'}
      - {series: 'hubcache_cache_lookups_total{job="hubcache",instance="c",distribution="d",result="miss"}', values: '0+6x60'}
    alert_rule_test:
      - {eval_time: 20m, alertname: HubcacheHitRatioCollapse, exp_alerts: []}
      - eval_time: 50m
        alertname: HubcacheHitRatioCollapse
        exp_alerts:
          - {exp_labels: {severity: warning, job: hubcache, instance: a}}
          - {exp_labels: {severity: warning, job: hubcache, instance: b}}
  - interval: 1m
    input_series:
      - {series: 'hubcache_cache_size_bytes{job="hubcache",instance="a"}', values: '990x40'}
      - {series: 'hubcache_cache_max_size_bytes{job="hubcache",instance="a"}', values: '1000x40'}
      - {series: 'hubcache_cache_evictions_total{job="hubcache",instance="a"}', values: '0+6x40'}
      - {series: 'hubcache_cache_size_bytes{job="hubcache",instance="b"}', values: '990x40'}
      - {series: 'hubcache_cache_max_size_bytes{job="hubcache",instance="b"}', values: '1000x40'}
      - {series: 'hubcache_cache_evictions_total{job="hubcache",instance="b"}', values: '0x40'}
    alert_rule_test:
      - {eval_time: 10m, alertname: HubcacheDiskBudgetExhausted, exp_alerts: []}
      - eval_time: 30m
        alertname: HubcacheDiskBudgetExhausted
        exp_alerts: [{exp_labels: {severity: warning, job: hubcache, instance: a}}]
  - interval: 1m
    input_series:
      - {series: 'hubcache_requests_total{job="hubcache",instance="a",distribution="d",method="GET",status="200"}', values: '0+540x30'}
      - {series: 'hubcache_requests_total{job="hubcache",instance="a",distribution="d",method="GET",status="502"}', values: '0+60x30'}
      - {series: 'hubcache_requests_total{job="hubcache",instance="b",distribution="d",method="GET",status="200"}', values: '0+600x30'}
      - {series: 'hubcache_requests_total{job="hubcache",instance="b",distribution="d",method="GET",status="503"}', values: '0+6x30'}
    alert_rule_test:
      - {eval_time: 8m, alertname: HubcacheHigh5xxRate, exp_alerts: []}
      - eval_time: 15m
        alertname: HubcacheHigh5xxRate
        exp_alerts: [{exp_labels: {severity: warning, job: hubcache, instance: a}}]
EOF
promtool test rules "$tmp/alerts-test.yaml"

echo "-- dashboard"
python3 -m json.tool "$dashboard" >/dev/null
echo "  $dashboard parses"
# Every panel query, with Grafana's variables filled in, as recording rules promtool can parse.
python3 - "$dashboard" >"$tmp/dashboard-rules.json" <<'EOF'
import json, re, sys
dash = json.load(open(sys.argv[1]))
exprs = []
def walk(panels):
    for p in panels:
        exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
        walk(p.get("panels", []))
walk(dash["panels"])
assert exprs, "no panel queries"
fill = lambda e: re.sub(r"\$(job|instance|distribution)\b", ".*", e.replace("$__rate_interval", "5m"))
rules = [{"record": f"dashboard:query_{i}", "expr": fill(e)} for i, e in enumerate(exprs)]
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, sys.stdout)
EOF
promtool check rules "$tmp/dashboard-rules.json" | sed 's/^/  /'

echo "-- metric names and labels"
python3 - "$tmp/exposition.txt" "$rules" "$dashboard" <<'EOF'
import re, sys
labels = {}  # sample name -> label names seen in the exposition
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s", line)
    labels.setdefault(m.group(1), set()).update(re.findall(r'([a-zA-Z_]\w*)="', m.group(2) or ""))
target = {"job", "instance"}  # added by Prometheus at scrape
problems = []
for path in sys.argv[2:]:
    text = open(path).read().replace('\\"', '"')  # JSON-escaped quotes in the dashboard
    for name in sorted(set(re.findall(r"\b(?:hubcache|process)_[a-z0-9_]+", text))):
        if name not in labels:
            problems.append(f"{path}: {name} is not exported")
    for name, sel in re.findall(r"\b((?:hubcache|process)_[a-z0-9_]+)\{([^}]*)\}", text):
        for key in re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", sel):
            if name in labels and key not in labels[name] | target:
                problems.append(f"{path}: {name} has no label {key!r}")
if problems:
    sys.exit("\n".join(problems))
print(f"  every name and selector label in {', '.join(sys.argv[2:])} is exported")
EOF
echo "observability files OK"
