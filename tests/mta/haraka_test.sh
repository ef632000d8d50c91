#!/usr/bin/env bash
# jq filters and awk programs are single-quoted on purpose ($vars in them are jq/awk variables):
# shellcheck disable=SC2016
# Real-MTA test: `smtp_exporter probe` against Haraka (the npm package pinned in
# tests/mta/haraka/package.json, installed by scripts/install-deps with `npm ci` into
# tests/mta/haraka/node_modules), two throwaway instances on 127.0.0.1:
#
#   catchall  an inbound MX for mx.test: rcpt_to.in_host_list accepts ANY local part at mx.test
#             and refuses every other domain. It answers 250 to <relay-test%example.net@mx.test>
#             and <example.net!relay-test@mx.test> because they are local parts at mx.test: the
#             prober must say "closed" with catch_all true, not "open relay".
#   open      an open relay (the relay plugin lets 127.0.0.1 relay), with STARTTLS (tls plugin)
#             and implicit TLS (smtps_port), both on the test CA's certificate for mx.test.
#
# The truth is each instance's own config and Haraka's own log (log level "protocol": every
# command read and every reply sent): the RCPT codes in the prober's JSON must be the ones
# Haraka logged, the outcomes must follow from them, and every session must end with QUIT, with
# no DATA/BDAT and nothing queued. A local plugin (haraka/common/plugins/smtp_exporter_test.js)
# answers Haraka's reverse DNS lookup itself (no DNS query), refuses DATA and drops any message
# a queue hook would see: nothing can be delivered.
#
#   haraka_test.sh /path/to/smtp_exporter
# Exit: 0 passed, 1 failed, 77 skipped (not root, node missing, or Haraka not installed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=mta_lib.sh
source "${here}/mta_lib.sh"
mta_begin haraka "$@"

kit=${here}/haraka
haraka_pkg=${kit}/node_modules/Haraka
[[ -f "${haraka_pkg}/package.json" && -f "${haraka_pkg}/bin/haraka" ]] ||
  mta_skip "Haraka is not installed in ${kit}/node_modules (scripts/install-deps runs npm ci there)"
command -v node >/dev/null 2>&1 || mta_skip "node is not installed"
haraka_version=$(jq -r .version "${haraka_pkg}/package.json")

# common_checks FILE NAME: greeting and transcript facts true of every Haraka probe here.
common_checks() {
  local f=$1 n=$2
  jcheck "${f}" "${n}: greeting.hostname mx.test, software Haraka" \
    '.greeting.hostname == "mx.test" and .greeting.software == "Haraka"'
  jcheck "${f}" "${n}: greeting.version is the installed Haraka's (${haraka_version})" \
    '.greeting.version == $v' --arg v "${haraka_version}"
  transcript_quit_no_data "${f}" "${n}"
}

# ---- Haraka instances (hk_create, hk_start, hk_stop) ----
# shellcheck source-path=SCRIPTDIR source=haraka_instance.sh
source "${here}/haraka_instance.sh"
# The log checks of one instance: SESSIONS probes talked to it.
hk_log_checks() {
  local name=$1 sessions=$2 dir=${top}/$1 log n
  log=${dir}/haraka.log
  section "Haraka's log of the ${name} instance"
  wait_log "${log}" 0 '\[core\] disconnect ip=' "${sessions}" 10 || true
  grep -E '\[core\] (connect|disconnect) ip=|\[(CRIT|ERROR|WARN)\]' "${log}" | sed 's/^/  | /' || true
  n=$(grep -cE '\[core\] connect ip=127\.0\.0\.1 ' "${log}" || true)
  check "${name}: Haraka saw ${sessions} connections (saw ${n})" test "${n}" -eq "${sessions}"
  n=$(grep -cE '\[core\] disconnect ip=' "${log}" || true)
  check "${name}: ${sessions} sessions ended (saw ${n} disconnect lines)" test "${n}" -eq "${sessions}"
  n=$(grep -cE '\[PROTOCOL\] .* C: QUIT( |$)' "${log}" || true)
  check "${name}: every session sent QUIT (${n} QUIT commands logged)" test "${n}" -eq "${sessions}"
  check "${name}: no DATA/BDAT command was ever read" \
    absent "${log}" '\[PROTOCOL\] .* C: (DATA|BDAT)( |$)'
  check "${name}: no message accepted or queued (msgs=0/0/0 on every disconnect line)" \
    absent "${log}" '\[core\] disconnect ip=.* msgs=([1-9]|0/[1-9]|0/0/[1-9])'
  check "${name}: the safety plugin never had to refuse DATA or drop a message" \
    absent "${log}" 'DATA received: refused|queue hook reached'
  check "${name}: no CRIT/ERROR lines in Haraka's log" absent "${log}" '\[(CRIT|ERROR|EMERG|ALERT)\]'
  check "${name}: Haraka did not generate DH parameters (dhparams.pem was given)" \
    absent "${log}" 'Generating a [0-9]+ bit dhparams'
  n=$(find "${dir}/queue" -type f 2>/dev/null | wc -l)
  check "${name}: Haraka's queue directory holds no files (${n})" test "${n}" -eq 0
}

# ---------------------------------------------------------------------------------------------
section "setting up Haraka ${haraka_version} (node $(node --version))"
mta_make_ca "${top}/ca"
read -r catchall_port open_port smtps_port <<<"$(mta_free_ports 3)"
hk_create catchall catchall "${catchall_port}"
hk_create open open "${open_port}" "${smtps_port}"
hk_start catchall
hk_start open
served_end='\[core\] disconnect ip=' served_cmd=' C: ' served_reply=' S: '
# hk_probe NAME INSTANCE RC ARGS...: served_json_probe against the instance's log.
hk_probe() { served_json_probe "$1" "$2" "$3" "${top}/$2/haraka.log" "${@:4}"; }

# ---------------------------------------------------------------------------------------------
section "catch-all inbound (127.0.0.1:${catchall_port}), basic relay variants"
n=catchall_basic
if hk_probe "${n}" catchall 0 "127.0.0.1:${catchall_port}" "${mta_args[@]}" --relay-test --output json; then
  f=${top}/${n}.out
  common_checks "${f}" "${n}"
  closed_catch_all_checks "${f}" "${n}"
  expect_attempts "${f}" "${n}" null_sender=refused:550 external=refused:550 \
    spoof_local_name=refused:550 source_route_name=refused:550 \
    percent_name=catch_all:250 bang_name=catch_all:250
  jcheck "${f}" "${n}: hack is true exactly for percent_name and bang_name" \
    '[.relay.attempts[] | select(.hack == true) | .variant] | sort == ["bang_name", "percent_name"]'
  rcpt_truth_checks "${n}" Haraka true
fi

section "catch-all inbound, every relay variant, text and JSON"
n=catchall_all
if hk_probe "${n}" catchall 0 "127.0.0.1:${catchall_port}" "${mta_args[@]}" --relay-test \
  --relay-variants all --output json; then
  f=${top}/${n}.out
  closed_catch_all_checks "${f}" "${n}"
  jcheck "${f}" "${n}: more than the 6 basic variants ran, names unique" \
    '(.relay.attempts | length) > 6 and ([.relay.attempts[].variant] | length == (unique | length))'
  hacks_are_catch_all_checks "${f}" "${n}"
  expect_attempts "${f}" "${n}" percent_name=catch_all:250 bang_name=catch_all:250 \
    double_at_name=refused:501 quoted=refused:501 percent_ip=refused:550 external=refused:550
  rcpt_truth_checks "${n}" Haraka true
fi
n=catchall_text
served_count_probe "${n}" catchall 0 "${top}/catchall/haraka.log" "127.0.0.1:${catchall_port}" \
  "${mta_args[@]}" --relay-test --output text
check "${n}: shows the Haraka greeting" grep -q "220 mx.test ESMTP Haraka/${haraka_version}" "${top}/${n}.out"
check "${n}: the verdict line says UP" grep -Eq '^verdict: +UP' "${top}/${n}.out"
check "${n}: nothing says OPEN RELAY or UNHEALTHY" absent "${top}/${n}.out" 'OPEN RELAY|UNHEALTHY'

# ---------------------------------------------------------------------------------------------
section "open relay (127.0.0.1:${open_port}), STARTTLS verified with the test CA"
n=open_starttls
if hk_probe "${n}" open 1 "127.0.0.1:${open_port}" "${mta_args[@]}" --relay-test "${mta_tls[@]}" \
  --output json; then
  f=${top}/${n}.out
  common_checks "${f}" "${n}"
  jcheck "${f}" "${n}: success true (every step worked), healthy false (open relay)" \
    '.success == true and .healthy == false'
  jcheck "${f}" "${n}: verdict says open relay" '.verdict | test("^UNHEALTHY: open relay")'
  jcheck "${f}" "${n}: relay.verdict open, relay.open true" \
    '.relay.verdict == "open" and .relay.open == true'
  jcheck "${f}" "${n}: relay.catch_all is not false (a relaying client gets any recipient)" \
    '.relay.catch_all != false'
  expect_attempts "${f}" "${n}" null_sender=accepted:250 external=accepted:250 \
    spoof_local_name=accepted:250 source_route_name=accepted:250
  # A hack accepted proves nothing once any local part is: catch_all when the prober asked the
  # catch-all question, inconclusive when it did not (the open relay is proven without it).
  jcheck "${f}" "${n}: percent_name and bang_name: 250, catch_all (or inconclusive if not asked)" \
    '. as $root
     | [.relay.attempts[] | select(.variant == "percent_name" or .variant == "bang_name")
      | .rcpt_code == 250 and .hack == true
        and .outcome == (if $root.relay.catch_all == true then "catch_all" else "inconclusive" end)]
     | length == 2 and all'
  jcheck "${f}" "${n}: STARTTLS offered and done, TLS 1.2/1.3" \
    '.starttls.offered == true and .starttls.success == true and (.tls.version | test("^TLSv1\\.[23]$"))'
  jcheck "${f}" "${n}: certificate verified with the test CA (chain and name mx.test)" \
    '.tls.chain_verified == true and .tls.hostname_verified == true and .tls.verified == true'
  jcheck "${f}" "${n}: EHLO after TLS does not offer STARTTLS again" \
    '.tls_capabilities != null
     and ([.tls_capabilities.extensions[].keyword | ascii_upcase] | index(["STARTTLS"]) == null)'
  rcpt_truth_checks "${n}" Haraka reported
fi

section "open relay instance, implicit TLS (smtps, 127.0.0.1:${smtps_port})"
n=open_implicit_tls
if hk_probe "${n}" open 0 "127.0.0.1:${smtps_port}" "${mta_args[@]}" --implicit-tls "${mta_tls[@]}" \
  --output json; then
  f=${top}/${n}.out
  common_checks "${f}" "${n}"
  jcheck "${f}" "${n}: success and healthy (no relay test asked)" \
    '.success == true and .healthy == true and .relay.ran == false'
  jcheck "${f}" "${n}: TLS from the first byte, verified with the test CA" \
    '.tls.handshake_ok == true and .tls.chain_verified == true and .tls.hostname_verified == true
     and .tls.verified == true and (.tls.chain[0].subject | test("mx\\.test"))'
  jcheck "${f}" "${n}: no STARTTLS command sent" \
    'all(.transcript[]; (.text | test("^STARTTLS"; "i")) | not)'
fi
check "open: Haraka logged the implicit-TLS session on the smtps port" \
  grep -qE "\[core\] connect ip=127\.0\.0\.1 .*local_port=${smtps_port}" "${top}/open/haraka.log"
check "open: both sessions were encrypted (tls=Y on the disconnect lines)" \
  test "$(grep -cE '\[core\] disconnect ip=.* tls=Y ' "${top}/open/haraka.log" || true)" -eq "${served_sessions[open]}"

hk_log_checks catchall "${served_sessions[catchall]}"
hk_log_checks open "${served_sessions[open]}"
