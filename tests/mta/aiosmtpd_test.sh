#!/usr/bin/env bash
# jq filters and awk programs are single-quoted on purpose ($vars in them are jq/awk variables):
# shellcheck disable=SC2016
# Real-MTA test: `smtp_exporter probe` against aiosmtpd (Debian's python3-aiosmtpd, 1.4), run by
# tests/mta/aiosmtpd_server.py on 127.0.0.1 in five set-ups:
#
#   closed        STARTTLS offered; mailboxes postmaster@ and user@mx.test only (any other local
#                 part: 550 5.1.1), foreign domains 550 5.7.1: closed, not a catch-all.
#   catchall      any local part at mx.test accepted, foreign domains refused: the prober must
#                 say closed with catch_all true, although <relay-test%example.net@mx.test> and
#                 <example.net!relay-test@mx.test> get 250.
#   open          every recipient accepted: an open relay.
#   require_tls   closed, and every command but EHLO/NOOP/STARTTLS/QUIT gets 530 before TLS
#                 (aiosmtpd's require_starttls): with --starttls off the probe is UP and the relay
#                 attempts are auth_required, never open.
#   implicit_tls  catchall, TLS from the first byte (SMTPS).
#
# The truth is each server's mode and its own log (every command line aiosmtpd read, every reply
# it sent, one summary line per session): the RCPT codes in the JSON must be the logged ones and
# the outcomes must follow from them; every session must end with QUIT, without DATA or BDAT.
# The server never stores anything (DATA is refused before 354, BDAT is not implemented).
#
#   aiosmtpd_test.sh /path/to/smtp_exporter
# Exit: 0 passed, 1 failed, 77 skipped (not root, or python3-aiosmtpd not installed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=mta_lib.sh
source "${here}/mta_lib.sh"
mta_begin aiosmtpd "$@"

# Debian's python3-aiosmtpd is a module of the system Python: run /usr/bin/python3, not whatever
# python3 comes first in PATH (a pyenv or venv one would not see it).
python=/usr/bin/python3
[[ -x "${python}" ]] || mta_skip "${python} is not installed"
aiosmtpd_version=$("${python}" -c 'import aiosmtpd; print(aiosmtpd.__version__)' 2>/dev/null) ||
  mta_skip "python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)"
server=${here}/aiosmtpd_server.py

# common_checks FILE NAME: greeting and transcript facts true of every aiosmtpd probe here.
common_checks() {
  local f=$1 n=$2
  jcheck "${f}" "${n}: greeting line is \"mx.test Python SMTP ${aiosmtpd_version}\"" \
    '.greeting.lines[0] == $l' --arg l "mx.test Python SMTP ${aiosmtpd_version}"
  jcheck "${f}" "${n}: greeting.hostname mx.test, software aiosmtpd" \
    '.greeting.hostname == "mx.test" and .greeting.software == "aiosmtpd"'
  jcheck "${f}" "${n}: greeting.version is the installed aiosmtpd's (${aiosmtpd_version})" \
    '.greeting.version == $v' --arg v "${aiosmtpd_version}"
  transcript_quit_no_data "${f}" "${n}"
}

# ---- aiosmtpd servers ----
# ai_start NAME PORT ARGS...: aiosmtpd_server.py --port PORT --log ${top}/NAME.log ARGS.
ai_start() {
  local name=$1 port=$2 pid
  shift 2
  "${python}" "${server}" --port "${port}" --log "${top}/${name}.log" "$@" \
    >"${top}/${name}.stderr" 2>&1 &
  pid=$!
  printf '%s\n' "${pid}" >"${top}/${name}.pid"
  mta_on_exit "ai_stop ${name}"
  if ! mta_wait_port "${port}" 20; then
    cat "${top}/${name}.stderr"
    fail "${name}: aiosmtpd did not listen on 127.0.0.1:${port} within 20 s"
    exit 1
  fi
  echo "aiosmtpd ${aiosmtpd_version} ${name}: pid ${pid}, 127.0.0.1:${port} ($*)"
}
ai_stop() {
  [[ -r "${top}/$1.pid" ]] || return 0
  mta_stop_pid "$(<"${top}/$1.pid")"
  rm -f "${top}/$1.pid"
}
served_end='\] disconnect commands=' served_cmd=' C: ' served_reply=' S: '
# ai_probe NAME INSTANCE RC ARGS...: served_json_probe against the instance's log.
ai_probe() { served_json_probe "$1" "$2" "$3" "${top}/$2.log" "${@:4}"; }
# The server's log of INSTANCE: every session the probes opened ended with QUIT, no DATA/BDAT.
ai_log_checks() {
  local inst=$1 tls_sessions=${2:-0} log=${top}/$1.log want n
  want=${served_sessions[${inst}]:-0}
  section "aiosmtpd's log of ${inst}"
  wait_log "${log}" 0 "${served_end}" "${want}" 10 || true
  grep -E '\] (connect|disconnect|tls established)' "${log}" | sed 's/^/  | /' || true
  n=$(grep -cE '\] connect 127\.0\.0\.1:' "${log}" || true)
  check "${inst}: ${want} connections (saw ${n})" test "${n}" -eq "${want}"
  n=$(grep -cE "${served_end}" "${log}" || true)
  check "${inst}: ${want} sessions ended (saw ${n})" test "${n}" -eq "${want}"
  check "${inst}: every session ended with QUIT (quit=1 on every disconnect line)" \
    absent "${log}" "${served_end}.* quit=0"
  check "${inst}: no DATA or BDAT command was read (data=0 bdat=0, no such C: line)" \
    absent "${log}" "(${served_end}.* (data|bdat)=[1-9])| C: (DATA|BDAT)( |$)"
  n=$(grep -cE '\] tls established TLSv1\.[23] ' "${log}" || true)
  check "${inst}: ${tls_sessions} TLS sessions (saw ${n})" test "${n}" -eq "${tls_sessions}"
  check "${inst}: aiosmtpd logged no warnings or errors (e.g. unrecognised commands)" \
    absent "${log}" '\] (WARNING|ERROR|CRITICAL): '
  check "${inst}: the server wrote nothing to stderr (no traceback)" \
    absent "${top}/${inst}.stderr" '.'
}

# ---------------------------------------------------------------------------------------------
section "setting up aiosmtpd ${aiosmtpd_version} ($("${python}" --version))"
mta_make_ca "${top}/ca"
tls=(--cert "${top}/ca/mx.test.pem" --key "${top}/ca/mx.test.key")
declare -A port=()
read -r 'port[closed]' 'port[catchall]' 'port[open]' 'port[require_tls]' 'port[implicit_tls]' \
  <<<"$(mta_free_ports 5)"
ai_start closed "${port[closed]}" --mode closed "${tls[@]}"
ai_start catchall "${port[catchall]}" --mode catchall
ai_start open "${port[open]}" --mode open
ai_start require_tls "${port[require_tls]}" --mode closed "${tls[@]}" --require-starttls
ai_start implicit_tls "${port[implicit_tls]}" --mode catchall "${tls[@]}" --implicit-tls
target() { printf '127.0.0.1:%s\n' "${port[$1]}"; }

# ---------------------------------------------------------------------------------------------
section "closed (STARTTLS), every relay variant"
n=closed_all
if ai_probe "${n}" closed 0 "$(target closed)" "${mta_args[@]}" --relay-test --relay-variants all \
  "${mta_tls[@]}" --output json; then
  f=${top}/${n}.out
  common_checks "${f}" "${n}"
  jcheck "${f}" "${n}: success, healthy, verdict UP" \
    '.success == true and .healthy == true and (.verdict | test("^UP"))'
  jcheck "${f}" "${n}: STARTTLS done, certificate verified with the test CA" \
    '.starttls.offered == true and .starttls.success == true and .tls.verified == true
     and .tls.chain_verified == true and .tls.hostname_verified == true'
  jcheck "${f}" "${n}: relay.verdict closed, open false, complete" \
    '.relay.verdict == "closed" and .relay.open == false and .relay.complete == true'
  jcheck "${f}" "${n}: relay.catch_all false (a random local part gets 550 5.1.1)" \
    '.relay.catch_all == false'
  jcheck "${f}" "${n}: the catch-all check at mx.test was refused with 550" \
    'any(.relay.catch_all_checks[]; .domain == "mx.test" and .rcpt_code == 550 and .accepted == false)'
  jcheck "${f}" "${n}: every attempt refused (5xx)" \
    'all(.relay.attempts[]; .outcome == "refused")'
  expect_attempts "${f}" "${n}" external=refused:550 percent_name=refused:550 bang_name=refused:550 \
    double_at_name=refused:553 quoted=refused:550
  rcpt_truth_checks "${n}" aiosmtpd false
fi

# ---------------------------------------------------------------------------------------------
section "catch-all, basic relay variants"
n=catchall_basic
if ai_probe "${n}" catchall 0 "$(target catchall)" "${mta_args[@]}" --relay-test --output json; then
  f=${top}/${n}.out
  common_checks "${f}" "${n}"
  closed_catch_all_checks "${f}" "${n}"
  expect_attempts "${f}" "${n}" null_sender=refused:550 external=refused:550 \
    spoof_local_name=refused:550 source_route_name=refused:550 \
    percent_name=catch_all:250 bang_name=catch_all:250
  rcpt_truth_checks "${n}" aiosmtpd true
fi
section "catch-all, every relay variant"
n=catchall_all
if ai_probe "${n}" catchall 0 "$(target catchall)" "${mta_args[@]}" --relay-test --relay-variants all \
  --output json; then
  closed_catch_all_checks "${top}/${n}.out" "${n}"
  hacks_are_catch_all_checks "${top}/${n}.out" "${n}"
  rcpt_truth_checks "${n}" aiosmtpd true
fi

# ---------------------------------------------------------------------------------------------
section "open relay, basic relay variants"
n=open_basic
if ai_probe "${n}" open 1 "$(target open)" "${mta_args[@]}" --relay-test --output json; then
  f=${top}/${n}.out
  common_checks "${f}" "${n}"
  jcheck "${f}" "${n}: success true, healthy false, verdict says open relay" \
    '.success == true and .healthy == false and (.verdict | test("^UNHEALTHY: open relay"))'
  jcheck "${f}" "${n}: relay.verdict open, open true" '.relay.verdict == "open" and .relay.open == true'
  jcheck "${f}" "${n}: relay.catch_all is not false (every recipient is accepted)" \
    '.relay.catch_all != false'
  expect_attempts "${f}" "${n}" null_sender=accepted:250 external=accepted:250 \
    spoof_local_name=accepted:250 source_route_name=accepted:250
  rcpt_truth_checks "${n}" aiosmtpd reported
fi

# ---------------------------------------------------------------------------------------------
section "STARTTLS required by the server (530 before TLS)"
n=require_tls_off
if ai_probe "${n}" require_tls 0 "$(target require_tls)" "${mta_args[@]}" --starttls off --relay-test \
  --output json; then
  f=${top}/${n}.out
  common_checks "${f}" "${n}"
  jcheck "${f}" "${n}: --starttls off: UP (exit 0, success true, healthy true)" \
    '.success == true and .healthy == true and (.verdict | test("^UP"))'
  jcheck "${f}" "${n}: STARTTLS offered, not attempted, no TLS" \
    '.starttls.offered == true and .starttls.success == null and .tls == null'
  jcheck "${f}" "${n}: every relay attempt auth_required (MAIL answered 530)" \
    'all(.relay.attempts[]; .outcome == "auth_required" and .mail_code == 530)'
  jcheck "${f}" "${n}: relay.verdict is not open, relay.open false" \
    '.relay.ran == true and .relay.verdict != "open" and .relay.open == false'
  jcheck "${f}" "${n}: relay.catch_all null (the question got 530, no answer)" \
    '.relay.catch_all == null'
  check "${n}: aiosmtpd answered every MAIL with 530" \
    awk -F'\t' '$1 == "MAIL" && $3 != "530" { bad = 1 } END { exit bad }' "${top}/${n}.truth"
  check "${n}: no RCPT reached aiosmtpd" awk -F'\t' '$1 == "RCPT" { exit 1 }' "${top}/${n}.truth"
  check "${n}: every outcome and the relay verdict follow from aiosmtpd's replies" \
    outcomes_follow "${n}" reported
fi
n=require_tls_on
if ai_probe "${n}" require_tls 0 "$(target require_tls)" "${mta_args[@]}" --relay-test \
  "${mta_tls[@]}" --output json; then
  jcheck "${top}/${n}.out" "${n}: opportunistic STARTTLS done and verified, healthy" \
    '.healthy == true and .starttls.success == true and .tls.verified == true'
  jcheck "${top}/${n}.out" "${n}: after TLS the relay test ran: closed, catch_all false, all refused" \
    '.relay.verdict == "closed" and .relay.catch_all == false
     and all(.relay.attempts[]; .outcome == "refused")'
  rcpt_truth_checks "${n}" aiosmtpd false
fi

# ---------------------------------------------------------------------------------------------
section "implicit TLS (SMTPS), catch-all"
n=implicit_tls
if ai_probe "${n}" implicit_tls 0 "$(target implicit_tls)" "${mta_args[@]}" --implicit-tls \
  --relay-test "${mta_tls[@]}" --output json; then
  f=${top}/${n}.out
  common_checks "${f}" "${n}"
  jcheck "${f}" "${n}: TLS from the first byte, verified with the test CA; no STARTTLS sent" \
    '.tls.handshake_ok == true and .tls.verified == true and .tls.chain_verified == true
     and .tls.hostname_verified == true
     and all(.transcript[]; (.text | test("^STARTTLS"; "i")) | not)'
  closed_catch_all_checks "${f}" "${n}"
  expect_attempts "${f}" "${n}" external=refused:550 percent_name=catch_all:250 bang_name=catch_all:250
  rcpt_truth_checks "${n}" aiosmtpd true
fi

ai_log_checks closed 1
ai_log_checks catchall 0
ai_log_checks open 0
ai_log_checks require_tls 1
ai_log_checks implicit_tls 1
