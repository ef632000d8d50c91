#!/usr/bin/env bash
# jq filters are single-quoted on purpose ($vars in them are jq variables):
# shellcheck disable=SC2016
# The domain checks' positive cases with a real Postfix as the MX (issue 11): MTA-STS in enforce
# mode that the MX meets, a DANE TLSA record that matches its certificate, a valid TLS-RPT
# record, and an address that a DNS blocklist does not list, end to end from
# `smtp_exporter probe mx:mx.test` and from the daemon's /metrics.
#
#   domain_postfix_test.sh /path/to/smtp_exporter /path/to/dnssec_serve
#
# All on loopback:
#   Postfix   the "closed" instance of postfix_instance.sh on 127.0.11.25:25 (mx: expansion
#             always probes port 25; an address of its own keeps it clear of 127.0.0.1), with a
#             certificate for mx.test from a test CA (mta_make_ca)
#   DNS       dnssec_serve (tests/dns/dnssec_servers.h): the zones mx.test and bl.test signed now,
#             served by nsd behind a validating unbound; mx.test has its MX (itself), A, the
#             TLSA record 3 1 1 of Postfix's key, _mta-sts and _smtp._tls; bl.test lists
#             127.0.0.2 only
#   policy    `openssl s_server -WWW` on 127.0.0.1 with a certificate for mta-sts.mx.test from
#             the same CA, serving mode enforce, mx: mx.test
# Exit: 0 passed, 1 failed, 77 skipped (not root, or Postfix, nsd, unbound or ldns missing).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../mta/mta_lib.sh
source "${here}/../mta/mta_lib.sh"
mta_begin domain_postfix "$@"
serve=${2:-}
[[ -x "${serve}" ]] || {
  echo "usage: domain_postfix_test.sh /path/to/smtp_exporter /path/to/dnssec_serve" >&2
  exit 2
}
# shellcheck source-path=SCRIPTDIR source=postfix_instance.sh
source "${here}/postfix_instance.sh"
command -v postfix >/dev/null 2>&1 || mta_skip "postfix is not installed"
command -v curl >/dev/null 2>&1 || mta_skip "curl is not installed"
mta_on_exit pf_stop_all

mx_address=127.0.11.25
ca=${top}/ca
mta_make_ca "${ca}"

section "DNS: signed zones mx.test and bl.test behind a validating unbound"
# DANE-EE, SPKI, SHA-256 (RFC 7672 §3.1.1: the usual record for an MX).
spki_sha256=$(openssl x509 -in "${ca}/mx.test.pem" -noout -pubkey |
  openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | od -An -v -tx1 | tr -d ' \n')
sts_port=$(mta_free_port)
cat >"${top}/mx.test.records" <<EOF
@ IN MX 10 mx.test.
@ IN A ${mx_address}
_25._tcp IN TLSA 3 1 1 ${spki_sha256}
_mta-sts IN TXT "v=STSv1; id=postfix1"
mta-sts IN A 127.0.0.1
_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@mx.test"
EOF
cat >"${top}/bl.test.records" <<EOF
2.0.0.127 IN A 127.0.0.2
2.0.0.127 IN TXT "listed for the test"
EOF
rc=0
"${serve}" mx.test "${top}/mx.test.records" bl.test "${top}/bl.test.records" \
  >"${top}/dnssec.out" 2>"${top}/dnssec.err" &
dns_pid=$!
mta_on_exit "mta_stop_pid ${dns_pid}"
for ((i = 0; i < 300; i++)); do
  [[ -s "${top}/dnssec.out" ]] && break
  mta_alive "${dns_pid}" || break
  sleep 0.1
done
if [[ ! -s "${top}/dnssec.out" ]]; then
  wait "${dns_pid}" || rc=$?
  [[ ${rc} -eq 77 ]] && mta_skip "$(cat "${top}/dnssec.err")"
  cat "${top}/dnssec.err"
  fail "dnssec_serve did not start (exit ${rc})"
  exit 1
fi
resolver=$(head -n 1 "${top}/dnssec.out")
echo "validating resolver ${resolver}; TLSA 3 1 1 ${spki_sha256}"

section "MTA-STS policy server: openssl s_server -WWW on 127.0.0.1:${sts_port}"
mkdir -p "${top}/sts/www/.well-known"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.test\r\nmax_age: 604800\r\n' \
  >"${top}/sts/www/.well-known/mta-sts.txt"
openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "${top}/sts/sts.key" \
  -out "${top}/sts/sts.csr" -subj "/CN=mta-sts.mx.test" 2>/dev/null
printf 'subjectAltName = DNS:mta-sts.mx.test\nextendedKeyUsage = serverAuth\n' >"${top}/sts/sts.ext"
openssl x509 -req -in "${top}/sts/sts.csr" -CA "${ca}/ca.pem" -CAkey "${ca}/ca.key" \
  -CAcreateserial -days 30 -sha256 -extfile "${top}/sts/sts.ext" -out "${top}/sts/sts.pem" \
  2>/dev/null
(cd "${top}/sts/www" && exec openssl s_server -quiet -WWW -accept "127.0.0.1:${sts_port}" \
  -cert "${top}/sts/sts.pem" -key "${top}/sts/sts.key" >"${top}/sts/s_server.log" 2>&1) &
sts_pid=$!
mta_on_exit "mta_stop_pid ${sts_pid}"
mta_wait_port "${sts_port}" 10 || {
  fail "openssl s_server did not listen on ${sts_port}"
  exit 1
}

section "Postfix on ${mx_address}:25"
mta_port_taken 25 >/dev/null && mta_skip "port 25 is taken here (run in tests/netns.sh)"
PF_ADDRESS=${mx_address} pf_create "${top}/postfix" closed 25 "${ca}"
pf_start "${top}/postfix"

checks=(--dns-server "${resolver}" --ca-file "${ca}/ca.pem" --mta-sts --mta-sts-port "${sts_port}"
  --tls-rpt --dane --dnsbl bl.test)

section "smtp_exporter probe mx:mx.test (JSON)"
probe cli 0 mx:mx.test "${checks[@]}" --no-reverse-dns --output json
# An mx: target prints one object per MX in an array; mx.test has one MX.
jq '.[0]' "${top}/cli.out" >"${top}/mx.out" 2>/dev/null || true
jcheck "${top}/cli.out" "cli: a JSON array of one object (one MX)" 'type == "array" and length == 1'
f=${top}/mx.out
if is_json mx; then
  jcheck "${f}" "healthy, STARTTLS verified for mx.test at ${mx_address}:25" \
    '.healthy == true and .tls.verified == true and .dns.connected_address == $a' \
    --arg a "${mx_address}"
  jcheck "${f}" "no findings" '.findings == []'
  jcheck "${f}" "mta_sts: record valid, id postfix1, fetched from port ${sts_port}" \
    '.mta_sts.record == "valid" and .mta_sts.id == "postfix1" and .mta_sts.fetch == "ok"
     and .mta_sts.http_status == 200 and (.mta_sts.url | endswith(":" + $p + "/.well-known/mta-sts.txt"))' \
    --arg p "${sts_port}"
  jcheck "${f}" "mta_sts: enforce, max_age 604800, mx [mx.test], this MX matches and is deliverable" \
    '.mta_sts.policy.mode == "enforce" and .mta_sts.policy.max_age == 604800
     and .mta_sts.policy.mx == ["mx.test"] and .mta_sts.mx_matches == true
     and .mta_sts.deliverable == true'
  jcheck "${f}" "tls_rpt: valid, rua mailto:tls-reports@mx.test" \
    '.tls_rpt.status == "valid" and .tls_rpt.rua == ["mailto:tls-reports@mx.test"]'
  jcheck "${f}" "dane: _25._tcp.mx.test, DNSSEC-validated, the 3 1 1 record matches Postfix's key" \
    '.dane.name == "_25._tcp.mx.test" and .dane.authenticated == true and .dane.status == "match"
     and (.dane.matched | startswith("3 1 1 "))'
  jcheck "${f}" "dnsbl: ${mx_address} not listed in bl.test" \
    '.dnsbl.listed == false and (.dnsbl.results | length) == 1
     and .dnsbl.results[0].zone == "bl.test" and .dnsbl.results[0].address == $a
     and .dnsbl.results[0].status == "not_listed"' --arg a "${mx_address}"
  transcript_quit_no_data "${f}" cli
else
  head -c 2000 "${top}/cli.out"
fi

section "the daemon's /metrics"
web_port=$(mta_free_port)
# "adhoc" is the same module without a configured target: /probe with it goes through the
# allowlist, which allows the MX's address on port 25 and not the policy host's on its port.
domain_module="
    timeout: 5s
    tls: {verify: true, ca_file: ${ca}/ca.pem}
    dns_server: ${resolver}
    mta_sts: true
    mta_sts_port: ${sts_port}
    tls_rpt: true
    dane: true
    dnsbl: [bl.test]
    relay_test: {enabled: false}"
cat >"${top}/exporter.yml" <<EOF
modules:
  domain:${domain_module}
  adhoc:${domain_module}
targets:
  - address: mx:mx.test
    module: domain
    interval: 5s
probe_allowlist: [mx.test, "${mx_address}:25"]
EOF
"${bin}" --config.file "${top}/exporter.yml" --web.listen-address "127.0.0.1:${web_port}" \
  >"${top}/exporter.log" 2>&1 &
exporter_pid=$!
mta_on_exit "mta_stop_pid ${exporter_pid}"
metrics=${top}/metrics.txt
# The first run comes at the target's offset within its 5 s interval.
for ((i = 0; i < 150; i++)); do
  curl -sf "http://127.0.0.1:${web_port}/metrics" >"${metrics}" 2>/dev/null || true
  grep -q '^smtp_dane_match' "${metrics}" && break
  mta_alive "${exporter_pid}" || break
  sleep 0.1
done
if grep -q '^smtp_dane_match' "${metrics}"; then
  pass "the daemon probed mx:mx.test within 15 s"
else
  fail "the daemon did not probe mx:mx.test within 15 s; its log:"
  cat "${top}/exporter.log"
fi
# metric NAME_AND_LABELS VALUE: the exposition ${metrics} (from ${where}) has that series (labels
# in this order) at VALUE.
where=/metrics
metric() {
  local series=$1 want=$2 got
  got=$(grep -F -- "${series} " "${metrics}" | awk '{print $NF}' | head -n 1 || true)
  if [[ "${got}" == "${want}" ]]; then
    pass "${where}: ${series} ${want}"
  else
    fail "${where}: ${series} is '${got}', want ${want}"
  fi
}
s='target="mx.test:25",domain="mx.test"'
metric "smtp_probe_success{${s}}" 1
metric "smtp_mta_sts_record_result{${s},result=\"valid\"}" 1
metric "smtp_mta_sts_policy_fetch_success{${s}}" 1
metric "smtp_mta_sts_mode{${s},mode=\"enforce\"}" 1
metric "smtp_mta_sts_max_age_seconds{${s}}" 604800
metric "smtp_mta_sts_mx_match{${s}}" 1
metric "smtp_mta_sts_mx_deliverable{${s}}" 1
metric "smtp_tls_rpt_result{${s},result=\"valid\"}" 1
metric "smtp_dane_tlsa_authenticated{${s}}" 1
metric "smtp_dane_result{${s},result=\"match\"}" 1
metric "smtp_dane_match{${s}}" 1
metric "smtp_dnsbl_listed{${s},zone=\"bl.test\",address=\"${mx_address}\"}" 0

section "/probe through the allowlist: the MX is allowed, the policy host is not (forbidden)"
adhoc=${top}/adhoc.txt
curl -s "http://127.0.0.1:${web_port}/probe?target=mx:mx.test&module=adhoc" >"${adhoc}" || true
metrics=${adhoc} where=/probe
metric "smtp_probe_success{${s}}" 1
metric "smtp_mta_sts_record_result{${s},result=\"valid\"}" 1
metric "smtp_mta_sts_policy_fetch_success{${s}}" 0
metric "smtp_mta_sts_policy_fetch_failure_info{${s},reason=\"forbidden\"}" 1
metric "smtp_dane_match{${s}}" 1
mta_stop_pid "${exporter_pid}"

section "Postfix's own log: every session ended with QUIT, nothing was sent or queued"
log=$(pf_log "${top}/postfix")
sessions=$(grep -cE 'smtpd\[[0-9]+\]: disconnect from ' <<<"${log}" || true)
check "Postfix saw at least three sessions (CLI, daemon, /probe), got ${sessions}" \
  test "${sessions}" -ge 3
disconnects=$(grep -E 'smtpd\[[0-9]+\]: disconnect from ' <<<"${log}" || true)
check "every session ended with QUIT" test -z "$(grep -v ' quit=1 ' <<<"${disconnects}" || true)"
check "no session sent DATA or BDAT" test -z "$(grep -E ' (data|bdat)=' <<<"${disconnects}" || true)"
check "the STARTTLS handshakes were made (Postfix logged TLS connections)" \
  grep -q 'Anonymous TLS connection established\|TLS connection established' <<<"${log}"
check "nothing queued" test -z "$(pf_queue_files "${top}/postfix")"
