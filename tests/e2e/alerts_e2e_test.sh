#!/usr/bin/env bash
# jq filters are single-quoted on purpose ($vars in them are jq variables):
# shellcheck disable=SC2016
# The shipped alert rules and Grafana dashboard against a real Prometheus server (issue #4, 7):
#
#   alerts_e2e_test.sh /path/to/smtp_exporter
#
# Starts on 127.0.0.1 (tests/integration/postfix_instance.sh via e2e_lib.sh):
#   closed  a closed Postfix with STARTTLS (test CA) and, over TLS only, SASL AUTH (Cyrus, no
#           users) so that the dashboard's AUTH panel has data;
#   open    an open relay;
#   down    a loopback port nothing listens on (connection refused), so that the dashboard's
#           failure panels have data while both Postfix instances are healthy;
#   submit  a second listener of the closed Postfix, probed with an `auth` module (its SASL
#           database has no users: every AUTH gets 535) and user enumeration (Postfix answers
#           VRFY of postmaster 252 and of a random name 550), so that SmtpAuthFailing and
#           SmtpUserEnumeration fire and the dashboard's submission panels have data;
# the daemon probing all three every 5 s (relay test enabled), and Debian's Prometheus
# (/usr/bin/prometheus, own config and TSDB in a temp dir) scraping it every second as
# job="smtp_exporter" and evaluating a copy of deploy/prometheus/rules/smtp_exporter.rules.yml
# every second. The copy differs from the shipped file only in `for:` (every one rewritten to
# ${ALERTS_E2E_FOR:-2s}); the expressions are checked to be exactly the shipped ones.
#
# Asserts through Prometheus' HTTP API (each wait bounded, 60-90 s):
#   (a) SmtpOpenRelay fires for the open relay, never (not even pending) for the closed Postfix;
#       SmtpAuthFailing and SmtpUserEnumeration fire for the submission listener;
#   (d) every dashboard query (grafana/smtp_exporter.json, variables and panels, extracted and
#       substituted by tests/deploy/promql_check.py: $job=smtp_exporter, $target a regex of the
#       three targets as Grafana formats a multi-value selection, $__rate_interval=1m,
#       $__interval=15s) returns data, variables through /api/v1/label/NAME/values;
#   (b) no alert at all (pending or firing) for the healthy closed Postfix during the whole run
#       up to its stop; its certificate is valid for more than 14 days (-days 30), so
#       SmtpCertificateExpiringSoon must stay quiet;
#   (c) stopping the closed Postfix fires SmtpPortClosed for it (step connect, reason refused),
#       and SmtpPortUnreachable never shows up for it; the always-refused port behaves alike;
#   (e) the domain checks of mx:e2e.test (a private dnsmasq, the MTA-STS policy from
#       `openssl s_server -WWW` with a certificate of the test CA, an MX nothing listens on):
#       SmtpMtaStsPolicyWouldFail and SmtpMxBlocklisted fire for its MX; stopping the policy
#       server fires SmtpMtaStsPolicyUnreachable; mx:lost.e2e.test, whose announced policy is
#       never served (so never enforced), gets no SmtpMtaStsPolicyUnreachable; its TLSA record
#       comes from dnsmasq, which does not validate, so it is reported insecure and not used
#       (SmtpDaneTlsaMismatch needs validated records: tests/dns/dane_dns_test.cc and promtool).
# Plus `promtool check rules` on the rules copy and `promtool check config` on the generated
# prometheus.yml. Prints a timeline of which alert became active when.
#
# Exit: 0 passed, 1 an assertion failed ("FAIL - ..." lines), 77 skipped (no postfix, not root,
# no python3 with PyYAML). Only loopback traffic; nothing is ever delivered. Everything started
# here is stopped on exit and the temp dir removed (SMTP_EXPORTER_KEEP_TMP=1 keeps it).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 /path/to/smtp_exporter" >&2
  exit 2
fi
bin=$(realpath "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "${here}/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=e2e_lib.sh
source "${here}/e2e_lib.sh"

e2e_require_root
prometheus=${PROMETHEUS:-/usr/bin/prometheus}
[[ -x "${prometheus}" ]] || die "${prometheus} is not installed (apt-get install prometheus)"
e2e_require curl jq openssl ss promtool timeout realpath
[[ -x "${bin}" ]] || die "${bin} is not an executable"
run_python=("sh" "${repo}/tests/deploy/run_python.sh")
if ! "${run_python[@]}" -c 'import yaml' >/dev/null 2>&1; then
  echo "SKIP: no python3 with PyYAML (apt-get install python3-yaml)"
  exit 77
fi
for_override=${ALERTS_E2E_FOR:-2s}
probe_interval=5 # seconds, probes and relay tests of every target

# Dashboard queries that may legitimately return nothing in this setup: "where" (as printed by
# promql_check.py queries) -> reason. None at the moment: the AUTH panel gets data from the SASL
# settings below and the failure panels from the always-refused "down" target.
declare -A query_exceptions=()

e2e_init alerts

# The closed Postfix advertises AUTH after STARTTLS (Cyrus SASL, like a server that also takes
# submissions on port 25). Without it smtp_auth_mechanism_info is absent. Debian's Postfix makes
# Cyrus read ${config_directory}/sasl/smtpd.conf (without one it falls back to /etc/sasldb2, which
# answers 454 or 535 depending on the machine): its sasldb is a file of the instance that does
# not exist, so every AUTH of the submission listener is "no such user", 535 5.7.8.
e2e_postfix_configure() {
  local dir=$1 flavour=$2 sasl=$1/etc/sasl
  [[ "${flavour}" == closed ]] || return 0
  mkdir -p "${sasl}"
  chmod 755 "${sasl}"
  printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\n' \
    "${sasl}/no-users.sasldb2" >"${sasl}/smtpd.conf"
  postconf -c "${dir}/etc" -e smtpd_sasl_auth_enable=yes smtpd_sasl_type=cyrus \
    smtpd_sasl_path=smtpd "cyrus_sasl_config_path=${sasl}" smtpd_tls_auth_only=yes
  cat >>"${dir}/etc/master.cf" <<EOF
127.0.0.1:${SUBMIT_PORT} inet n      -       n       -       -       smtpd
  -o syslog_name=postfix-test-closed/submission
EOF
}
SUBMIT_PORT=$(pf_free_port)
t_setup=${SECONDS}
e2e_start_postfix
closed=127.0.0.1:${CLOSED_PORT}
open=127.0.0.1:${OPEN_PORT}
submit=127.0.0.1:${SUBMIT_PORT}
down_port=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}" "${SUBMIT_PORT}")
down=127.0.0.1:${down_port}
dport=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}" "${SUBMIT_PORT}" "${down_port}")
pport=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}" "${SUBMIT_PORT}" "${down_port}" "${dport}")
note "closed Postfix ${closed}, open relay ${open}, refused port ${down}, daemon :${dport}, Prometheus :${pport}"

# The CA and mx.test certificate of pf_make_ca are valid for 30 days: more than the 14 days of
# SmtpCertificateExpiringSoon. Checked here so that a shorter validity shows up as the reason.
cert_days=$((($(date -d "$(openssl x509 -enddate -noout -in "${E2E_TOP}/ca/mx.test.pem" | cut -d= -f2)" +%s) - $(date +%s)) / 86400))
if ((cert_days > 14)); then
  pass "the test certificate is valid for ${cert_days} more days (> 14: no expiry alert expected)"
else
  fail "the test certificate is valid for only ${cert_days} days: SmtpCertificateExpiringSoon would fire legitimately"
fi

# --- a mail domain for the domain checks (README "Domain checks") ----------------------------------
# e2e.test: MX mx.e2e.test = 127.0.0.99, where nothing listens on port 25, so a sender applying
# its enforced MTA-STS policy cannot deliver; the policy comes from `openssl s_server -WWW` with
# a certificate of the test CA for mta-sts.e2e.test; a TLS-RPT record; bl.e2e.test lists
# 127.0.0.99. lost.e2e.test (MX 127.0.0.98) announces a policy that no server serves.
command -v dnsmasq >/dev/null 2>&1 || die "dnsmasq is not installed (apt-get install dnsmasq-base)"
sts_dir=${E2E_TOP}/mta-sts
mkdir -p "${sts_dir}/www/.well-known"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.e2e.test\r\nmax_age: 86400\r\n' \
  >"${sts_dir}/www/.well-known/mta-sts.txt"
openssl req -new -newkey rsa:2048 -nodes -keyout "${sts_dir}/sts.key" -out "${sts_dir}/sts.csr" \
  -subj "/CN=mta-sts.e2e.test" 2>/dev/null
printf 'subjectAltName = DNS:mta-sts.e2e.test\nextendedKeyUsage = serverAuth\n' >"${sts_dir}/sts.ext"
openssl x509 -req -in "${sts_dir}/sts.csr" -CA "${E2E_TOP}/ca/ca.pem" -CAkey "${E2E_TOP}/ca/ca.key" \
  -CAcreateserial -days 30 -sha256 -extfile "${sts_dir}/sts.ext" -out "${sts_dir}/sts.pem" 2>/dev/null
sts_port=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}" "${down_port}" "${dport}" "${pport}")
(cd "${sts_dir}/www" && exec openssl s_server -quiet -WWW -accept "127.0.0.1:${sts_port}" \
  -cert "${sts_dir}/sts.pem" -key "${sts_dir}/sts.key" >"${sts_dir}/s_server.log" 2>&1) &
sts_pid=$!
E2E_PIDS+=("${sts_pid}")
dns_port=$(e2e_free_port "${CLOSED_PORT}" "${OPEN_PORT}" "${down_port}" "${dport}" "${pport}" "${sts_port}")
cat >"${sts_dir}/dnsmasq.conf" <<EOF
local=/test/
mx-host=e2e.test,mx.e2e.test,10
host-record=mx.e2e.test,127.0.0.99
host-record=mta-sts.e2e.test,127.0.0.1
txt-record=_mta-sts.e2e.test,"v=STSv1; id=e2e1"
txt-record=_smtp._tls.e2e.test,"v=TLSRPTv1; rua=mailto:tlsrpt@e2e.test"
host-record=99.0.0.127.bl.e2e.test,127.0.0.2
txt-record=99.0.0.127.bl.e2e.test,"listed for the e2e test"
dns-rr=_25._tcp.mx.e2e.test,52,030101$(printf '%064d' 0)
mx-host=lost.e2e.test,mx.lost.e2e.test,10
host-record=mx.lost.e2e.test,127.0.0.98
host-record=mta-sts.lost.e2e.test,127.0.0.98
txt-record=_mta-sts.lost.e2e.test,"v=STSv1; id=e2e1"
EOF
dnsmasq --conf-file="${sts_dir}/dnsmasq.conf" --no-daemon --no-resolv --no-hosts --bind-interfaces \
  --listen-address=127.0.0.1 --port="${dns_port}" >"${sts_dir}/dnsmasq.log" 2>&1 &
E2E_PIDS+=("$!")
mx_e2e=mx.e2e.test:25
mx_lost=mx.lost.e2e.test:25
sts_ready() { openssl s_client -connect "127.0.0.1:${sts_port}" </dev/null >/dev/null 2>&1; }
wait_until 10 "the MTA-STS policy server on :${sts_port}" sts_ready || die "openssl s_server did not start"
note "mx:e2e.test via dnsmasq :${dns_port}, its MTA-STS policy on :${sts_port} (pid ${sts_pid})"

printf 'e2e-probe-password\n' >"${E2E_TOP}/auth_password"
{
  e2e_module_yaml "${probe_interval}s"
  cat <<EOF
  submission:
    timeout: 5s
    ehlo_name: probe.e2e.test
    tls: {verify: true, server_name: mx.test, ca_file: ${E2E_CA}}
    auth: {username: probe, password_file: ${E2E_TOP}/auth_password}
    user_enumeration: {enabled: true}
  mail_domain:
    timeout: 3s
    dns_server: 127.0.0.1:${dns_port}
    tls: {ca_file: ${E2E_CA}}
    mta_sts: true
    mta_sts_port: ${sts_port}
    tls_rpt: true
    dane: true
    dnsbl: [bl.e2e.test, clean.e2e.test]
targets:
  - address: ${closed}
    interval: ${probe_interval}s
    labels: {role: closed}
  - address: ${open}
    interval: ${probe_interval}s
    labels: {role: open}
  - address: ${down}
    interval: ${probe_interval}s
    labels: {role: down}
  - address: ${submit}
    module: submission
    interval: ${probe_interval}s
    labels: {role: submission}
  - address: mx:e2e.test
    module: mail_domain
    interval: ${probe_interval}s
    labels: {role: domain}
  - address: mx:lost.e2e.test
    module: mail_domain
    interval: ${probe_interval}s
    labels: {role: domain}
EOF
} >"${E2E_TOP}/smtp_exporter.yml"

# --- the rules copy: shipped expressions, short `for:` -----------------------------------------
mkdir -p "${E2E_TOP}/rules"
rules_copy=${E2E_TOP}/rules/smtp_exporter.rules.yml
if ! rewrite_out=$("${run_python[@]}" - "${repo}/deploy/prometheus/rules/smtp_exporter.rules.yml" \
  "${rules_copy}" "${for_override}" 2>&1 <<'PY'
import sys
import yaml

src, dst, for_ = sys.argv[1:4]
doc = yaml.safe_load(open(src, encoding="utf-8"))
rewritten = 0
for group in doc["groups"]:
    for rule in group["rules"]:
        if "for" in rule:
            rule["for"] = for_
            rewritten += 1
with open(dst, "w", encoding="utf-8") as f:
    yaml.safe_dump(doc, f, sort_keys=False, width=10000)


def exprs(d):
    return [(r.get("alert") or r.get("record"), r["expr"]) for g in d["groups"] for r in g["rules"]]


copy = yaml.safe_load(open(dst, encoding="utf-8"))
if exprs(copy) != exprs(yaml.safe_load(open(src, encoding="utf-8"))):
    sys.exit("the copy's expressions differ from the shipped ones")
alerts = [name for name, _ in exprs(copy)]
print(f"{len(alerts)} alerts, {rewritten} `for:` rewritten to {for_}, expressions unchanged")
print(" ".join(alerts))
PY
); then
  printf '%s\n' "${rewrite_out}" | sed 's/^/#   /'
  die "could not derive the rules copy"
fi
pass "rules copy: $(head -n 1 <<<"${rewrite_out}")"
read -r -a all_alerts <<<"$(tail -n 1 <<<"${rewrite_out}")"

if out=$(promtool check rules "${rules_copy}" 2>&1); then
  pass "promtool check rules accepts the rules copy ($(grep -o 'SUCCESS: [0-9]* rules found' <<<"${out}" || echo SUCCESS))"
else
  printf '%s\n' "${out}" | sed 's/^/#   /'
  fail "promtool check rules rejects the rules copy"
fi

cat >"${E2E_TOP}/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - ${rules_copy}
scrape_configs:
  # The job name the rules (SmtpExporterDown) and the dashboard's \$job expect.
  - job_name: smtp_exporter
    static_configs:
      - targets: ['127.0.0.1:${dport}']
EOF
if out=$(promtool check config "${E2E_TOP}/prometheus.yml" 2>&1); then
  pass "promtool check config accepts the generated prometheus.yml (and its rule file)"
else
  printf '%s\n' "${out}" | sed 's/^/#   /'
  die "promtool rejects the generated prometheus.yml"
fi

# --- daemon and Prometheus -----------------------------------------------------------------------
e2e_start_daemon "${bin}" "${dport}" "${E2E_TOP}/smtp_exporter.yml"
dpid=${E2E_DAEMON_PID}

t_prom=${SECONDS}
e2e_start_prometheus "${prometheus}" "${E2E_TOP}/prometheus.yml" "${pport}"
ppid_=${E2E_PROMETHEUS_PID}
pbase=${E2E_PROMETHEUS_BASE}
rules_api=$(curl -s --max-time 10 "${pbase}/api/v1/rules")
if jq -e --argjson n "${#all_alerts[@]}" \
  '[.data.groups[].rules[] | select(.type == "alerting")] | length == $n' >/dev/null <<<"${rules_api}"; then
  pass "Prometheus loaded all ${#all_alerts[@]} alerting rules"
else
  fail "Prometheus did not load the ${#all_alerts[@]} alerting rules: $(jq -c '[.data.groups[]?.rules[]?.name]' <<<"${rules_api}")"
fi

# --- API helpers ---------------------------------------------------------------------------------
alerts_json() { curl -s --max-time 10 "${pbase}/api/v1/alerts"; }
# alert_is STATE NAME TARGET: the alert NAME is in STATE (firing|pending|any) for TARGET now.
alert_is() {
  alerts_json | jq -e --arg s "$1" --arg n "$2" --arg t "$3" \
    '.data.alerts | any(.labels.alertname == $n and .labels.target == $t and ($s == "any" or .state == $s))'
}
# wait_alert NAME TARGET [SECS]: polls until NAME fires for TARGET; prints how long it took.
wait_alert() {
  local name=$1 target=$2 secs=${3:-60} t0=${SECONDS}
  if wait_until "${secs}" "${name} firing for ${target}" alert_is firing "${name}" "${target}"; then
    pass "${name} fires for ${target} (after $((SECONDS - t0)) s of waiting, $((SECONDS - t_prom)) s after Prometheus started)"
    return 0
  fi
  fail "${name} does not fire for ${target} within ${secs} s; alerts now: $(alerts_json | jq -c '[.data.alerts[] | {n: .labels.alertname, t: .labels.target, s: .state}]')"
  return 1
}
# ever_alerts TARGET [ALERTNAME_REGEX]: every alert (name/state) that had an ALERTS series for
# TARGET since Prometheus started, as "Name(state)" words; empty when none.
ever_alerts() {
  local window=$((SECONDS - t_prom + 5))
  prom_query "count by (alertname, alertstate) (count_over_time(ALERTS{target=\"$1\", alertname=~\"${2:-.*}\"}[${window}s]))" |
    jq -r '[.data.result[] | "\(.metric.alertname)(\(.metric.alertstate))"] | sort | join(" ")'
}

# --- (a) open relay ------------------------------------------------------------------------------
prom_expect "smtp_relay_open == 1 for the open relay" \
  "smtp_relay_open{job=\"smtp_exporter\",target=\"${open}\"}" 'length == 1 and .[0].value[1] == "1"'
prom_expect "smtp_relay_open == 0 for the closed Postfix" \
  "smtp_relay_open{job=\"smtp_exporter\",target=\"${closed}\"}" 'length == 1 and .[0].value[1] == "0"'
t_closed_data=${SECONDS} # the closed Postfix's relay verdict (its last series) is in Prometheus
wait_alert SmtpOpenRelay "${open}" 60 || true
if jq -e --arg t "${open}" '.data.alerts | any(.labels.alertname == "SmtpOpenRelay" and .labels.target == $t
    and .labels.severity == "critical" and .labels.job == "smtp_exporter" and .labels.role == "open"
    and (.annotations.summary | contains($t)) and (.annotations.runbook_url | endswith("#smtpopenrelay")))' \
  >/dev/null <<<"$(alerts_json)"; then
  pass "SmtpOpenRelay carries severity=critical, the target's labels, its summary and runbook_url"
else
  fail "SmtpOpenRelay lacks labels or annotations: $(alerts_json | jq -c '[.data.alerts[] | select(.labels.alertname == "SmtpOpenRelay")]')"
fi
relay_closed=$(ever_alerts "${closed}" SmtpOpenRelay)
if [[ -z "${relay_closed}" ]]; then
  pass "SmtpOpenRelay never (not even pending) for the closed Postfix ${closed}"
else
  fail "SmtpOpenRelay showed up for the closed Postfix: ${relay_closed}"
fi

# Submission: AUTH refused (no such user in the SASL database), VRFY tells users apart.
prom_expect "smtp_auth_result{result=\"bad_credentials\"} == 1 for the submission listener" \
  "smtp_auth_result{job=\"smtp_exporter\",target=\"${submit}\",result=\"bad_credentials\"} == 1" 'length == 1'
wait_alert SmtpAuthFailing "${submit}" 60 || true
wait_alert SmtpUserEnumeration "${submit}" 60 || true
auth_closed=$(ever_alerts "${closed}" 'SmtpAuthFailing|SmtpUserEnumeration')
if [[ -z "${auth_closed}" ]]; then
  pass "SmtpAuthFailing and SmtpUserEnumeration never for ${closed} (no auth module there)"
else
  fail "AUTH or enumeration alerts for ${closed}: ${auth_closed}"
fi

# --- (d) every dashboard query returns data while both servers are up -----------------------
# $target as Grafana interpolates a multi-value selection into a regex (dots escaped, and the
# backslash doubled inside the PromQL string).
target_re="(127\\\\.0\\\\.0\\\\.1:(${CLOSED_PORT}|${OPEN_PORT}|${down_port}|${SUBMIT_PORT})|mx\\\\.(lost\\\\.)?e2e\\\\.test:25)"
mapfile -t dash_queries < <("${run_python[@]}" "${repo}/tests/deploy/promql_check.py" queries "${repo}" \
  job=smtp_exporter "target=${target_re}" __rate_interval=1m __interval=15s __range=1h __range_s=3600)
((${#dash_queries[@]} > 0)) || die "promql_check.py queries printed no dashboard query"
note "${#dash_queries[@]} dashboard queries, e.g. $(jq -r .expr <<<"${dash_queries[2]}")"
# has_data JSON-LINE: 0 when the query returns data (a variable: its label values include what
# this setup must show).
has_data() {
  local where expr label answer
  where=$(jq -r .where <<<"$1")
  expr=$(jq -r .expr <<<"$1")
  label=$(jq -r '.label // ""' <<<"$1")
  if [[ -n "${label}" ]]; then
    # What Grafana's label_values(expr, label) asks for.
    answer=$(curl -s --max-time 10 -G --data-urlencode "match[]=${expr}" "${pbase}/api/v1/label/${label}/values")
    case "${label}" in
      job) jq -e '.data | index("smtp_exporter") != null' <<<"${answer}" ;;
      target) jq -e --arg a "${closed}" --arg b "${open}" --arg c "${down}" \
        '.data as $d | [$a, $b, $c] | all(. as $t | $d | index($t) != null)' <<<"${answer}" ;;
      *) jq -e '.data | length > 0' <<<"${answer}" ;;
    esac
  else
    answer=$(prom_query "${expr}")
    # Non-empty, and not only NaN (what an idle histogram_quantile gives: Grafana shows nothing).
    jq -e '.status == "success" and (.data.result | length > 0)
      and (.data.result | any((.value[1] // "") != "NaN"))' <<<"${answer}"
  fi >/dev/null 2>&1
}
query_ok=() # by index into dash_queries: seconds until the query had data
t_dash=${SECONDS}
deadline=$((SECONDS + 90))
while :; do
  missing=0
  for i in "${!dash_queries[@]}"; do
    [[ -n "${query_ok[i]:-}" ]] && continue
    if has_data "${dash_queries[i]}"; then query_ok[i]=$((SECONDS - t_dash)); else missing=$((missing + 1)); fi
  done
  ((missing == 0 || SECONDS >= deadline)) && break
  sleep 1
done
with_data=0
for i in "${!dash_queries[@]}"; do
  q=${dash_queries[i]}
  where=$(jq -r .where <<<"${q}")
  if [[ -n "${query_ok[i]:-}" ]]; then
    with_data=$((with_data + 1))
    note "  data after ${query_ok[i]} s: ${where}"
    [[ -n "${query_exceptions[${where}]:-}" ]] && note "listed as an exception but has data: ${where}"
  elif [[ -n "${query_exceptions[${where}]:-}" ]]; then
    note "exception, no data expected: ${where}: ${query_exceptions[${where}]}"
  else
    fail "dashboard query returns no data: ${where}: $(jq -r .expr <<<"${q}") -> $(prom_query "$(jq -r .expr <<<"${q}")" | jq -c '.data.result // .error' 2>/dev/null)"
  fi
done
if ((with_data == ${#dash_queries[@]})); then
  pass "all ${#dash_queries[@]} dashboard queries (variables and panels) return data ($((SECONDS - t_dash)) s)"
else
  note "${with_data} of ${#dash_queries[@]} dashboard queries return data"
fi

# The refused port: the same alert as a stopped Postfix will get (and proof the failure panels
# had their data from a real failure).
wait_alert SmtpPortClosed "${down}" 60 || true
unreach_down=$(ever_alerts "${down}" SmtpPortUnreachable)
if [[ -z "${unreach_down}" ]]; then
  pass "SmtpPortUnreachable never for the refused port ${down}"
else
  fail "SmtpPortUnreachable showed up for the refused port: ${unreach_down}"
fi

# --- (e) the domain checks of mx:e2e.test ------------------------------------------------------------
prom_expect "MTA-STS enforce fetched for ${mx_e2e}, the MX matching and not deliverable (down)" \
  "smtp_mta_sts_mode{job=\"smtp_exporter\",target=\"${mx_e2e}\",mode=\"enforce\"} == 1 and on(target) smtp_mta_sts_mx_match == 1 and on(target) smtp_mta_sts_mx_deliverable == 0" \
  'length == 1 and .[0].metric.domain == "e2e.test"'
prom_expect "TLS-RPT valid for e2e.test" \
  "smtp_tls_rpt_result{job=\"smtp_exporter\",target=\"${mx_e2e}\",result=\"valid\"} == 1" 'length == 1'
prom_expect "127.0.0.99 listed in bl.e2e.test (code 127.0.0.2, its TXT reason), not in clean.e2e.test" \
  "smtp_dnsbl_listing_info{job=\"smtp_exporter\",target=\"${mx_e2e}\",zone=\"bl.e2e.test\",code=\"127.0.0.2\",reason=\"listed for the e2e test\"} and on(target) smtp_dnsbl_listed{zone=\"clean.e2e.test\"} == 0" \
  'length == 1'
prom_expect "DANE: the TLSA record from dnsmasq (which does not validate: no AD bit) is not trusted" \
  "smtp_dane_result{job=\"smtp_exporter\",target=\"${mx_e2e}\",result=\"insecure\"} == 1 and on(target) smtp_dane_tlsa_records == 1 and on(target) smtp_dane_tlsa_authenticated == 0" \
  'length == 1'
prom_expect "the announced but unserved policy of lost.e2e.test: fetch failed (connect)" \
  "smtp_mta_sts_policy_fetch_failure_info{job=\"smtp_exporter\",target=\"${mx_lost}\",reason=\"connect\"} == 1" 'length == 1'
wait_alert SmtpMtaStsPolicyWouldFail "${mx_e2e}" 60 || true
wait_alert SmtpMxBlocklisted "${mx_e2e}" 60 || true

# --- (b) nothing fires for the healthy closed Postfix ---------------------------------------------
# Every rule must have had enough evaluations on complete data of the closed Postfix: at least
# three probe rounds after its relay verdict (its last series) reached Prometheus, each far
# longer than the rewritten `for:`.
prom_expect "smtp_probe_success == 1, STARTTLS, verified certificate and AUTH over TLS for the closed Postfix" \
  "smtp_probe_success{job=\"smtp_exporter\",target=\"${closed}\"} == 1 and on(target) smtp_starttls_success == 1 and on(target) smtp_tls_cert_verified == 1 and on(target) count by (target) (smtp_auth_mechanism_info{tls=\"true\"}) > 0" \
  'length == 1'
prom_expect "the closed Postfix's certificate expires in 14..31 days" \
  "(smtp_tls_cert_not_after_timestamp_seconds{job=\"smtp_exporter\",target=\"${closed}\"} - time()) / 86400" \
  'length == 1 and ((.[0].value[1] | tonumber) > 14) and ((.[0].value[1] | tonumber) < 31)'
sleep_until=$((t_closed_data + 3 * probe_interval))
if ((SECONDS < sleep_until)); then sleep $((sleep_until - SECONDS)); fi
quiet=$(ever_alerts "${closed}")
if [[ -z "${quiet}" ]]; then
  pass "no alert at all (pending or firing) for the healthy closed Postfix during the first $((SECONDS - t_prom)) s"
else
  fail "alerts for the healthy closed Postfix ${closed}: ${quiet}"
fi
note "alerts for the open relay so far: $(ever_alerts "${open}")"
note "alerts for the refused port so far: $(ever_alerts "${down}")"
others=$(prom_query 'count by (alertname, alertstate) (count_over_time(ALERTS{target=""}[10m]))' |
  jq -r '[.data.result[] | "\(.metric.alertname)(\(.metric.alertstate))"] | join(" ")')
if [[ -z "${others}" ]]; then
  pass "no alert without a target (SmtpExporterDown, SmtpExporterConfigReloadFailed quiet)"
else
  fail "alerts without a target: ${others}"
fi

# --- (c) stopping the closed Postfix ----------------------------------------------------------------
t_stop=${SECONDS}
pf_stop "${E2E_TOP}/pf-closed"
if ss -Hltn "sport = :${CLOSED_PORT}" | grep -q .; then
  fail "the closed Postfix still listens on ${closed} after pf_stop"
else
  pass "closed Postfix stopped (pf_stop, $((SECONDS - t_stop)) s)"
fi
prom_expect "smtp_probe_failure_info{step=\"connect\", reason=\"refused\"} for the stopped Postfix" \
  "smtp_probe_failure_info{job=\"smtp_exporter\",target=\"${closed}\"} == 1" \
  'length == 1 and .[0].metric.step == "connect" and .[0].metric.reason == "refused"'
if wait_alert SmtpPortClosed "${closed}" 60; then
  note "SmtpPortClosed for ${closed} fired $((SECONDS - t_stop)) s after the stop (probe interval ${probe_interval} s, for ${for_override})"
  if alerts_json | jq -e --arg t "${closed}" '.data.alerts | any(.labels.alertname == "SmtpPortClosed"
      and .labels.target == $t and .labels.reason == "refused" and .labels.step == "connect"
      and .labels.severity == "critical" and .labels.role == "closed")' >/dev/null; then
    pass "SmtpPortClosed for ${closed} carries step=connect, reason=refused, severity=critical, role=closed"
  else
    fail "SmtpPortClosed for ${closed} has unexpected labels: $(alerts_json | jq -c '[.data.alerts[] | select(.labels.alertname == "SmtpPortClosed") | .labels]')"
  fi
fi
# Two more probe rounds: a wrong classification (timeout, unreachable) would show by then.
sleep $((2 * probe_interval + 2))
unreach=$(ever_alerts "${closed}" SmtpPortUnreachable)
if [[ -z "${unreach}" ]]; then
  pass "SmtpPortUnreachable never (not even pending) for the stopped Postfix"
else
  fail "SmtpPortUnreachable showed up for the stopped Postfix: ${unreach}"
fi
if alert_is any SmtpOpenRelay "${open}" >/dev/null; then
  pass "SmtpOpenRelay still active for the open relay"
else
  fail "SmtpOpenRelay is no longer active for the open relay"
fi
note "alerts for the stopped Postfix: $(ever_alerts "${closed}")"

# --- (e) continued: the MTA-STS policy server goes away ----------------------------------------------
t_sts_stop=${SECONDS}
e2e_stop "${sts_pid}" 5
if wait_alert SmtpMtaStsPolicyUnreachable "${mx_e2e}" 60; then
  note "SmtpMtaStsPolicyUnreachable for ${mx_e2e} fired $((SECONDS - t_sts_stop)) s after the policy server stopped"
fi
lost=$(ever_alerts "${mx_lost}" SmtpMtaStsPolicyUnreachable)
if [[ -z "${lost}" ]]; then
  pass "SmtpMtaStsPolicyUnreachable never for ${mx_lost}, whose policy was never served (never enforced)"
else
  fail "SmtpMtaStsPolicyUnreachable showed up for ${mx_lost}: ${lost}"
fi

# --- timeline ----------------------------------------------------------------------------------------
note "timeline (activeAt = when the alert became pending; the run started at $(date -u -d "@$(($(date +%s) - SECONDS + t_setup))" +%T) UTC, Postfix stopped at $(date -u -d "@$(($(date +%s) - SECONDS + t_stop))" +%T)):"
alerts_json | jq -r '.data.alerts | sort_by(.activeAt)[] |
  "#   \(.activeAt[11:19]) \(.state) \(.labels.alertname) \(.labels.target // .labels.instance)\(if .labels.reason then " reason=" + .labels.reason else "" end)"'
fired=$(prom_query 'count by (alertname) (count_over_time(ALERTS{alertstate="firing"}[15m]))' |
  jq -r '[.data.result[].metric.alertname] | sort | join(" ")')
note "alerts that fired during the run: ${fired}"
never=()
for a in "${all_alerts[@]}"; do
  [[ " ${fired} " == *" ${a} "* ]] || never+=("${a}")
done
note "never fired here (no cause in this setup): ${never[*]:-none}"

e2e_finish_with_prometheus "${ppid_}" "${dpid}"
