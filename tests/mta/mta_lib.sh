#!/usr/bin/env bash
# jq filters are single-quoted on purpose ($vars in them are jq variables):
# shellcheck disable=SC2016
# The shared kit of the real-MTA tests (tests/mta/*_test.sh and tests/integration/postfix_test.sh):
# assertions that count and never abort, the prober run with its output kept, ports, a test CA,
# and the MTAs that conflict with Postfix as packages, unpacked from their .debs.
#
# Source it, then call mta_begin NAME; the caller's EXIT trap is set by mta_begin and runs
# every mta_on_exit hook, then prints "N passed, N failed" and keeps the temp dir on failure.
#
#   mta_begin NAME                 -> ${top}: a fresh temp dir; ${bin}: the binary ($1 of the test)
#   mta_on_exit 'COMMAND'          -> run COMMAND at exit (stop servers), last registered first
#   mta_skip WHY                   -> prints "SKIP: WHY", exits 77
#   mta_free_port / mta_free_ports N -> a TCP port nothing listens on (below the ephemeral range)
#                                     / N distinct ones on a line
#   mta_stop_pid PID               -> SIGTERM, wait up to 10 s, SIGKILL; reap
#   mta_wait_port PORT [SECONDS]   -> waits until 127.0.0.1:PORT accepts connections
#   mta_start_server / mta_stop_pidfile / mta_stop_each / mta_by_hand / mta_serve_on
#                                  -> what the *_instance.sh scripts share: see below
#   mta_make_ca DIR                -> DIR/ca.pem, DIR/mx.test.pem, DIR/mx.test.key (CN/SAN mx.test)
#   mta_need PACKAGE...            -> skip (exit 77) unless scripts/fetch-test-mtas unpacked them
#   mta_root PACKAGE               -> prints the folder PACKAGE.deb was unpacked into
#   pass / fail / check / jcheck / absent / section / probe / is_json: see below
#   served_probe, server_truth, outcomes_follow, relay_common_checks ...: the server's own log as
#                                     the source of truth, and checks every relay test gets
#   closed_basic_scenario ...      -> the scenarios of exim_test.sh and sendmail_test.sh
#   served_json_probe, closed_catch_all_checks ... -> what the aiosmtpd, Haraka and Postfix
#                                     catch-all tests share
#
# Loopback only: every server a test starts listens on 127.0.0.1; the prober is always given an
# IP literal and --no-reverse-dns, so it sends no DNS query at all.
set -euo pipefail
PATH=${PATH}:/usr/sbin:/sbin

# Where scripts/fetch-test-mtas unpacks the MTA packages, one folder per package.
MTA_PACKAGES_ROOT=${SMTP_EXPORTER_MTA_ROOT:-/opt/smtp-exporter-test-mtas}

failures=0
passes=0
_mta_exit_hooks=()

pass() {
  printf 'ok   - %s\n' "$1"
  passes=$((passes + 1))
}
fail() {
  printf 'FAIL - %s\n' "$1"
  failures=$((failures + 1))
}
section() { printf '\n=== %s ===\n' "$*"; }
mta_skip() {
  echo "SKIP: $*"
  exit 77
}

# check DESCRIPTION COMMAND...: runs COMMAND, records pass/fail, never aborts the script.
check() {
  local desc=$1 out
  shift
  if out=$("$@" 2>&1); then pass "${desc}"; else fail "${desc}"; fi
  [[ -z "${out}" ]] || printf '%s\n' "${out}"
}
# jcheck FILE DESCRIPTION JQ-FILTER [jq args...]: passes when the filter yields true.
jcheck() {
  local file=$1 desc=$2 filter=$3
  shift 3
  if jq -e "$@" "${filter}" "${file}" >/dev/null 2>&1; then
    pass "${desc}"
  else
    fail "${desc} [jq: ${filter}]"
  fi
}
# absent FILE ERE: true when no line of FILE matches the extended regex.
absent() {
  local bad
  bad=$(grep -E -- "$2" "$1" || true)
  [[ -z "${bad}" ]] || {
    printf '       offending line(s): %s\n' "${bad}"
    return 1
  }
}

# probe NAME EXPECTED_RC ARGS...: runs `${bin} probe ARGS`, saves stdout/stderr/rc under
# ${top}/NAME.* and checks the exit code.
probe() {
  local name=$1 want=$2 rc=0
  shift 2
  printf '$ %s probe %s\n' "${bin}" "$*" >"${top}/${name}.cmd"
  timeout 120 "${bin}" probe "$@" >"${top}/${name}.out" 2>"${top}/${name}.err" || rc=$?
  printf '%s\n' "${rc}" >"${top}/${name}.rc"
  if [[ ${rc} -eq ${want} ]]; then
    pass "${name}: exit code ${rc}"
  else
    fail "${name}: exit code ${rc}, want ${want}"
    echo "--- stderr of ${name}:"
    head -c 4000 "${top}/${name}.err" || true
    echo "--- stdout of ${name}:"
    head -c 6000 "${top}/${name}.out" || true
    echo "---"
  fi
}
is_json() {
  if jq -e 'type == "object"' "${top}/$1.out" >/dev/null 2>&1; then
    pass "$1: stdout is a JSON object"
    return 0
  fi
  fail "$1: stdout is not a JSON object (first 2000 bytes follow)"
  head -c 2000 "${top}/$1.out"
  echo
  return 1
}

mta_on_exit() { _mta_exit_hooks+=("$1"); }

_mta_finish() {
  local rc=$? i
  set +e
  for ((i = ${#_mta_exit_hooks[@]} - 1; i >= 0; i--)); do eval "${_mta_exit_hooks[i]}"; done
  if [[ ${rc} -eq 77 ]]; then
    rm -rf "${top:?}"
    exit 77
  fi
  [[ ${failures} -eq 0 && ${rc} -ne 0 ]] && fail "the test script itself exited with ${rc}"
  section "result"
  echo "${passes} passed, ${failures} failed"
  if [[ "${SMTP_EXPORTER_KEEP_TMP:-0}" == 1 || ${failures} -ne 0 ]]; then
    echo "(temp dir kept for inspection: ${top})"
  else
    rm -rf "${top:?}"
  fi
  [[ ${failures} -eq 0 ]] && exit 0
  exit 1
}

# mta_begin NAME "$@": checks the caller's arguments (the binary under test) and the tools every
# MTA test needs, makes ${top}, and installs the EXIT trap.
mta_begin() {
  local name=$1 tool
  shift
  if [[ $# -lt 1 ]]; then
    echo "usage: ${name}_test.sh /path/to/smtp_exporter" >&2
    exit 2
  fi
  bin=$1
  [[ -x "${bin}" ]] || {
    echo "FAIL - ${bin} is not an executable" >&2
    exit 1
  }
  [[ ${EUID} -eq 0 ]] || mta_skip "must run as root (MTAs start as root and drop privileges)"
  for tool in jq openssl ss timeout; do
    command -v "${tool}" >/dev/null 2>&1 || {
      echo "FAIL - required tool '${tool}' is not installed" >&2
      exit 1
    }
  done
  top=$(mktemp -d "/tmp/smtp-exporter-${name}.XXXXXX")
  chmod 755 "${top}"
  # The prober's arguments that verify mx.test with the test CA (mta_make_ca "${top}/ca").
  mta_tls=(--ca-file "${top}/ca/ca.pem" --server-name mx.test)
  trap _mta_finish EXIT
  trap 'exit 130' INT TERM
}

# Prints a TCP port that nothing listens on at the moment, below the kernel's ephemeral range so
# that outgoing connections do not grab it meanwhile.
mta_free_port() {
  local port tries=0 low=32768 span
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((low > 12000)) || low=32768
  span=$((low - 10000))
  while ((tries++ < 200)); do
    port=$((10000 + RANDOM % span))
    if ! ss -Hltn "sport = :${port}" | grep -q .; then
      printf '%s\n' "${port}"
      return 0
    fi
  done
  echo "mta_free_port: no free port found" >&2
  return 1
}

# mta_alive PID: the process runs (an exited one not yet reaped is a zombie: not alive).
mta_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ "${state}" != Z ]]
}

# mta_stop_pid PID: stops a server this shell started in the background: SIGTERM, up to 10 s for
# it to exit (its sessions end with their connections), then SIGKILL; reaps it.
mta_stop_pid() {
  local pid=$1 i
  kill -TERM "${pid}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    mta_alive "${pid}" || break
    sleep 0.1
  done
  if mta_alive "${pid}"; then
    echo "mta_stop_pid: ${pid} ignored SIGTERM; killing it" >&2
    kill -KILL "${pid}" 2>/dev/null || true
  fi
  wait "${pid}" 2>/dev/null || true
}

# mta_wait_port PORT [SECONDS]: 0 once 127.0.0.1:PORT listens, 1 after SECONDS (default 20).
mta_wait_port() {
  local port=$1 limit=${2:-20} i
  for ((i = 0; i < limit * 10; i++)); do
    ss -Hltn "sport = :${port}" | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

# mta_free_ports N: N distinct ports (mta_free_port) on one line, separated by spaces.
mta_free_ports() {
  local want=$1 p ports=" "
  while (($(wc -w <<<"${ports}") < want)); do
    p=$(mta_free_port) || return 1
    [[ "${ports}" == *" ${p} "* ]] || ports+="${p} "
  done
  printf '%s\n' "${ports:1:-1}"
}

# mta_port_taken PORT...: prints the first PORT something listens on already; false when none.
mta_port_taken() {
  local p
  for p in "$@"; do
    ss -Hltn "sport = :${p}" | grep -q . || continue
    printf '%s\n' "${p}"
    return 0
  done
  return 1
}

# mta_await_listen PID SECONDS PORT...: 0 once ${MTA_ADDRESS} (default 127.0.0.1) listens on
# every PORT; 1 (with the reason on stderr) when the process PID ended first or SECONDS passed.
mta_await_listen() {
  local pid=$1 limit=$2 i p all address=${MTA_ADDRESS:-127.0.0.1}
  shift 2
  for ((i = 0; i < limit * 10; i++)); do
    all=1
    for p in "$@"; do
      ss -Hltn "src ${address} and sport = :${p}" | grep -q . || all=0
    done
    ((all)) && return 0
    mta_alive "${pid}" || {
      echo "mta_await_listen: process ${pid} ended before ${address} listened on $*" >&2
      return 1
    }
    sleep 0.1
  done
  echo "mta_await_listen: ${address} did not listen on $* within ${limit} s" >&2
  return 1
}

# mta_start_server DIR PIDFILE OUTPUT SECONDS COMMAND...: starts the server of the instance DIR
# (its ports: DIR/port, DIR/smtps_port and DIR/delay_port where present and not empty; its
# loopback address DIR/address, else 127.0.0.1) as a background job of this shell, stdout and
# stderr to OUTPUT, its pid in PIDFILE; refuses a port that is taken (on any address) and waits
# up to SECONDS until every port listens (else prints OUTPUT, fails).
mta_start_server() {
  local dir=$1 pidfile=$2 out=$3 limit=$4 ports=() f taken MTA_ADDRESS=127.0.0.1
  shift 4
  [[ -s "${dir}/address" ]] && MTA_ADDRESS=$(<"${dir}/address")
  for f in port smtps_port delay_port; do
    [[ -s "${dir}/${f}" && -n "$(<"${dir}/${f}")" ]] && ports+=("$(<"${dir}/${f}")")
  done
  if taken=$(mta_port_taken "${ports[@]}"); then
    echo "mta_start_server: port ${taken} is already in use" >&2
    return 1
  fi
  "$@" >"${out}" 2>&1 &
  printf '%s\n' "$!" >"${pidfile}"
  if ! mta_await_listen "$!" "${limit}" "${ports[@]}"; then
    echo "--- ${out}:" >&2
    cat "${out}" >&2 || true
    return 1
  fi
  echo "$(<"${dir}/flavour") instance listening on ${MTA_ADDRESS}, port(s) ${ports[*]} (dir ${dir})" >&2
}

# mta_stop_pidfile PIDFILE: stops the server whose pid PIDFILE holds (mta_stop_pid), removes it.
mta_stop_pidfile() {
  [[ -r "$1" ]] || return 0
  mta_stop_pid "$(<"$1")"
  rm -f "$1"
}

# mta_stop_each STOP DIR...: runs STOP DIR for every DIR (the instances a test started).
mta_stop_each() {
  local stop=$1 dir
  shift
  for dir in "$@"; do "${stop}" "${dir}"; done
}

# mta_by_hand NAME FLAVOURS STOP [FLAVOUR [PORT]]: the manual mode of NAME_instance.sh (run, not
# sourced): FLAVOUR must be one of FLAVOURS ("closed|open"); needs root. Sets ${flavour}, ${port}
# (PORT or a free one) and ${top} (a temp dir with the test CA in ${top}/ca); at exit runs the
# command STOP and removes ${top}. The caller creates and starts the instance, then mta_serve_on.
mta_by_hand() {
  local name=$1 flavours=$2 stop=$3
  shift 3
  flavour=${1:-}
  if [[ -z "${flavour}" || "|${flavours}|" != *"|${flavour}|"* ]]; then
    echo "usage: ${name}_instance.sh ${flavours} [PORT]" >&2
    exit 2
  fi
  [[ ${EUID} -eq 0 ]] || mta_skip "must run as root"
  port=${2:-$(mta_free_port)}
  top=$(mktemp -d "/tmp/smtp-exporter-${name}.XXXXXX")
  chmod 755 "${top}"
  # shellcheck disable=SC2064 # STOP is expanded now, ${top} at exit
  trap "${stop}; rm -rf \"\${top}\"" EXIT
  trap 'exit 130' INT TERM
  mta_make_ca "${top}/ca"
}
# mta_serve_on PIDFILE WHAT: says the instance is ready (WHAT: what and where) and waits while
# its server runs; Ctrl-C stops it.
mta_serve_on() {
  echo "ready: $2; CA ${top}/ca/ca.pem"
  echo "Ctrl-C to stop."
  while mta_alive "$(<"$1")"; do sleep 1; done
}

# A test CA and a server certificate for mx.test (CN and SAN), signed by it.
mta_make_ca() {
  local dir=$1
  mkdir -p "${dir}"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
    -keyout "${dir}/ca.key" -out "${dir}/ca.pem" \
    -subj "/O=smtp_exporter integration test/CN=smtp_exporter test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -sha256 \
    -keyout "${dir}/mx.test.key" -out "${dir}/mx.test.csr" \
    -subj "/O=smtp_exporter integration test/CN=mx.test" 2>/dev/null
  cat >"${dir}/mx.test.ext" <<'EXT'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:mx.test
EXT
  openssl x509 -req -in "${dir}/mx.test.csr" -CA "${dir}/ca.pem" -CAkey "${dir}/ca.key" \
    -CAcreateserial -days 30 -sha256 -extfile "${dir}/mx.test.ext" \
    -out "${dir}/mx.test.pem" 2>/dev/null
  chmod 600 "${dir}/ca.key" "${dir}/mx.test.key"
  openssl verify -CAfile "${dir}/ca.pem" "${dir}/mx.test.pem" >/dev/null
}

# mta_need PACKAGE...: skips the test (exit 77, in the calling shell) unless every PACKAGE was
# unpacked by scripts/fetch-test-mtas (run by scripts/install-deps).
mta_need() {
  local package
  for package in "$@"; do
    [[ -f "${MTA_PACKAGES_ROOT}/${package}/.unpacked" ]] ||
      mta_skip "package ${package} is not unpacked in ${MTA_PACKAGES_ROOT} (run scripts/install-deps)"
  done
}

# mta_root PACKAGE: the folder PACKAGE was unpacked into (dpkg -x); check with mta_need first.
mta_root() { printf '%s\n' "${MTA_PACKAGES_ROOT}/$1"; }

# ---- The server's own log as the source of truth -------------------------------------------
# Each test keeps the lines a server logged for one probe (served_probe) and checks that the
# prober's JSON says what the server did: the same RCPT codes, and outcomes and a relay verdict
# that follow from them by the rules of DESIGN §1 (outcomes_follow).
log_size() { if [[ -f "$1" ]]; then wc -l <"$1"; else echo 0; fi; }
# wait_log FILE MARK ERE [COUNT] [SECONDS]: waits until COUNT lines after line MARK match ERE.
wait_log() {
  local file=$1 mark=$2 ere=$3 want=${4:-1} limit=${5:-10} i n
  for ((i = 0; i < limit * 10; i++)); do
    n=$(tail -n "+$((mark + 1))" "${file}" 2>/dev/null | grep -cE -- "${ere}" || true)
    ((n >= want)) && return 0
    sleep 0.1
  done
  return 1
}
# served_probe NAME RC LOG END_ERE ARGS...: probe (above), then waits for the end of the
# session in the server's LOG and keeps the lines it added as NAME.serverlog.
served_probe() {
  local name=$1 want=$2 log=$3 end=$4 mark
  shift 4
  mark=$(log_size "${log}")
  probe "${name}" "${want}" "$@"
  wait_log "${log}" "${mark}" "${end}" 1 10 ||
    echo "info - ${name}: no end of session in the server's log after 10 s"
  tail -n "+$((mark + 1))" "${log}" >"${top}/${name}.serverlog"
}
# server_truth NAME CMD_MARK REPLY_MARK: from NAME.serverlog, one line per MAIL/RCPT command the
# server read: "MAIL|RCPT<TAB>address<TAB>code<TAB>reply", address lower-case without <>.
# CMD_MARK/REPLY_MARK are the regexes that stand before a command / a reply code in a log line.
server_truth() {
  awk -v c="$2" -v r="$3" '
    $0 ~ (c "(MAIL FROM|RCPT TO):") {
      s = $0; sub(".*" c, "", s); kind = toupper(substr(s, 1, 4)); sub(/^[^:]*:/, "", s)
      addr = s; if (match(s, /<[^>]*>/)) addr = substr(s, RSTART + 1, RLENGTH - 2)
      pending = 1; next
    }
    pending && $0 ~ (r "[0-9][0-9][0-9]") {
      s = $0; sub(".*" r, "", s)
      printf "%s\t%s\t%s\t%s\n", kind, tolower(addr), substr(s, 1, 3), s; pending = 0
    }' "${top}/$1.serverlog" >"${top}/$1.truth"
}
# The RCPT codes the prober reports (relay attempts and catch-all checks), as "address<TAB>code".
json_rcpt_codes() {
  jq -r '[(.relay.attempts // [])[], (.relay.catch_all_checks // [])[]][]
         | select((.rcpt_code // 0) > 0)
         | "\(.rcpt_to | tostring | ltrimstr("<") | rtrimstr(">") | ascii_downcase)\t\(.rcpt_code)"' \
    "$1" | sort
}
# same_rcpt_codes NAME: the prober's RCPT codes are exactly those in the server's log.
same_rcpt_codes() {
  diff <(json_rcpt_codes "${top}/$1.out") <(awk -F'\t' '$1 == "RCPT" { print $2 "\t" $3 }' \
    "${top}/$1.truth" | sort) | sed 's/^/       /'
  return "${PIPESTATUS[0]}"
}
# outcomes_follow NAME CATCH_ALL: each attempt's outcome is what the contract derives from the
# reply codes (already checked against the server's log) and from CATCH_ALL, the server's config
# (true|false: does it accept any local part at its own name?) or "reported" (relay.catch_all as
# the prober found it: null = not asked); relay.verdict follows from the outcomes.
outcomes_follow() {
  jq -r --arg ca "$2" '
    (if $ca == "reported" then .relay.catch_all else ($ca == "true") end) as $ca
    | def hack: .variant | test("^(percent_|quoted|double_at_|bang)");
    def want:
      if (.rcpt_code // 0) == 0 then
        (if (.mail_code // 0) == 0 then "not_run" elif .mail_code == 530 then "auth_required"
         elif .mail_code >= 500 then "refused" elif .mail_code >= 400 then "inconclusive"
         else "not_run" end)
      elif .rcpt_code == 530 then "auth_required"
      elif .rcpt_code >= 500 then "refused"
      elif .rcpt_code >= 400 then "inconclusive"
      elif .rcpt_code >= 200 and .rcpt_code < 300 then
        (if (hack | not) or $ca == false then "accepted"
         elif $ca == true then "catch_all" else "inconclusive" end)
      else "?" end;
    [(.relay.attempts // [])[] | {variant, outcome, want: want}] as $a
    # RFC 3207 §4: a 530 in plaintext from a server that offers STARTTLS may only mean "use
    # TLS first", so it does not prove the server closed.
    | ((.relay.over_tls // false) or ((.starttls.offered // false) | not)) as $tls_or_none
    | (if any($a[]; .want == "accepted") then "open"
       elif any($a[]; .want == "not_run" or .want == "inconclusive") then "inconclusive"
       elif any($a[]; .want == "auth_required") and ($tls_or_none | not) then "inconclusive"
       elif ($a | length) == 0 then "inconclusive"
       else "closed" end) as $v
    | [$a[] | select(.outcome != .want) | "\(.variant): outcome \(.outcome), want \(.want)"]
      + (if (.relay.verdict // "(none)") != $v
         then ["relay.verdict \(.relay.verdict // "(none)"), want \($v)"] else [] end)
    | .[]' "${top}/$1.out" | sed 's/^/       /' | grep . && return 1
  return 0
}
# expect_attempts FILE NAME VARIANT=OUTCOME:RCPT_CODE...: the outcome and RCPT code of each
# named variant, from the server's config.
expect_attempts() {
  local file=$1 name=$2 item v o c
  shift 2
  for item in "$@"; do
    v=${item%%=*} o=${item#*=}
    c=${o#*:} o=${o%%:*}
    jcheck "${file}" "${name}: ${v} -> ${o} (RCPT ${c})" \
      'any(.relay.attempts[]; .variant == $v and .outcome == $o and (.rcpt_code | tostring) == $c)' \
      --arg v "${v}" --arg o "${o}" --arg c "${c}"
  done
}
# truth_table NAME: every relay attempt and catch-all check of the probe, with the server's reply
# to its RCPT (or to its MAIL when no RCPT followed) taken from the server's own log.
truth_table() {
  local name=$1 v mf rt code outcome key reply
  echo "  truth table of ${name}: variant | MAIL FROM | RCPT TO | server's reply (its log) | prober: code outcome"
  while IFS=$'\t' read -r v mf rt code outcome; do
    key=${rt#<}
    key=${key%>}
    reply=$(awk -F'\t' -v a="${key,,}" '$1 == "RCPT" && $2 == a { print $4; exit }' "${top}/${name}.truth")
    if [[ -z "${reply}" ]]; then
      key=${mf#<}
      key=${key%>}
      reply=$(awk -F'\t' -v a="${key,,}" '$1 == "MAIL" && $2 == a { print "MAIL: " $4; exit }' \
        "${top}/${name}.truth")
    fi
    printf '  | %-17s | %-22s | %-40s | %-62s | %s %s\n' "${v}" "${mf}" "${rt}" "${reply:-(none)}" \
      "${code}" "${outcome}"
  done < <(jq -r '((.relay.catch_all_checks // [])[]
                   | ["(catch-all check)", "", .rcpt_to, .rcpt_code, "accepted=\(.accepted)"]),
                  ((.relay.attempts // [])[]
                   | [.variant, .mail_from, .rcpt_to, .rcpt_code, .outcome])
                  | map(tostring) | @tsv' "${top}/${name}.out")
}

# json_events FILE / json_catch_all_events FILE: the MAIL/RCPT results as the prober reported them
# ("MAIL FROM|RCPT TO<TAB>address<TAB>code"), the attempts that ran and the catch-all checks apart.
json_events() {
  jq -r '.relay.attempts[] | select(.outcome != "not_run")
    | if (.mail_code // 0) >= 400 then "MAIL FROM\t\(.mail_from)\t\(.mail_code)"
      elif (.rcpt_code // 0) > 0 then "RCPT TO\t\(.rcpt_to)\t\(.rcpt_code)"
      else "NO ANSWER\t\(.variant)\t0" end' "$1" 2>/dev/null || true
}

json_catch_all_events() {
  jq -r '(.relay.catch_all_checks // [])[]
    | if (.mail_code // 0) >= 400 then "MAIL FROM\t?\t\(.mail_code)"
      else "RCPT TO\t\(.rcpt_to)\t\(.rcpt_code)" end' "$1" 2>/dev/null || true
}

# outcomes_by_domain FILE: each attempt's outcome and the relay verdict follow from the reply codes
# (checked against the server's own record elsewhere) by the contract's rules, with the catch-all
# answer taken per domain, as the prober asked it (catch_all_checks: the server's name, its
# [address], "" for an unqualified local part): a hack accepted at a domain whose catch-all check
# was refused is accepted, at one where it was accepted is catch_all, else inconclusive.
# (outcomes_follow takes one catch-all answer, from the server's config, for every hack domain.)
# Prints mismatches.
outcomes_by_domain() {
  jq -r '
    (reduce (.relay.catch_all_checks // [])[] as $c ({}; .[$c.domain] = $c.accepted)) as $ca
    | def hdom: .rcpt_to | ltrimstr("<") | rtrimstr(">") | gsub("\"[^\"]*\""; "Q")
                | if test("@") then sub("^.*@"; "") else "" end;
      def hack: .variant | test("^(percent_|quoted|double_at_|bang)");
      def want:
        if (.mail_code // 0) == 530 or (.rcpt_code // 0) == 530 then "auth_required"
        elif (.mail_code // 0) >= 500 then "refused"
        elif (.mail_code // 0) >= 400 then "inconclusive"
        elif (.rcpt_code // 0) >= 500 then "refused"
        elif (.rcpt_code // 0) >= 400 then "inconclusive"
        elif (.rcpt_code // 0) >= 200 and (.rcpt_code // 0) < 300 then
          (if (hack | not) then "accepted"
           else $ca[hdom] as $a
             | if $a == false then "accepted" elif $a == true then "catch_all" else "inconclusive" end
           end)
        else "not_run" end;
    [(.relay.attempts // [])[] | {variant, outcome, want: want}] as $a
    | ((.relay.over_tls // false) or ((.starttls.offered // false) | not)) as $tls_or_none
    | (if any($a[]; .want == "accepted") then "open"
       elif any($a[]; .want == "not_run" or .want == "inconclusive") then "inconclusive"
       elif any($a[]; .want == "auth_required") and ($tls_or_none | not) then "inconclusive"
       else "closed" end) as $v
    | [$a[] | select(.outcome != .want) | "\(.variant): outcome \(.outcome), want \(.want)"]
      + (if (.relay.verdict // "(none)") != $v
         then ["relay.verdict \(.relay.verdict // "(none)"), want \($v)"] else [] end)
    | .[]' "$1" | sed 's/^/       /' | grep . && return 1
  return 0
}

# transcript_quit_no_data FILE NAME: the probe ended the session with QUIT, answered 221, and
# never sent DATA or BDAT.
transcript_quit_no_data() {
  jcheck "$1" "$2: transcript has QUIT and 221, no DATA/BDAT" \
    'any(.transcript[]; .text | test("^QUIT$"; "i")) and any(.transcript[]; .text | test("^221"))
     and all(.transcript[]; (.text | test("^(DATA|BDAT)\\b"; "i")) | not)'
}

# relay_common_checks FILE: what holds for every complete relay test against a real server,
# whatever its verdict.
relay_common_checks() {
  local f=$1
  jcheck "${f}" "success true (a relay test never makes the probe DOWN)" '.success == true'
  jcheck "${f}" "relay.ran and relay.complete" '.relay.ran == true and .relay.complete == true'
  jcheck "${f}" "no attempt not_run" 'all(.relay.attempts[]; .outcome != "not_run")'
  jcheck "${f}" "every 5xx (501 included) at MAIL or RCPT is outcome refused" \
    'all(.relay.attempts[];
       if (.mail_code // 0) >= 500 or (.rcpt_code // 0) >= 500 then .outcome == "refused" else true end)'
  jcheck "${f}" "every 2yz at RCPT is accepted, catch_all or inconclusive" \
    'all(.relay.attempts[];
       if (.rcpt_code // 0) >= 200 and (.rcpt_code // 0) < 300
       then (.outcome | IN("accepted", "catch_all", "inconclusive")) else true end)'
  jcheck "${f}" "hack flag: true for percent/quoted/double_at/bang, false otherwise" \
    'all(.relay.attempts[];
       .hack == (.variant | test("^(percent_|quoted|double_at_|bang)")))'
  check "outcomes and relay.verdict follow from the codes (catch-all answered per domain)" \
    outcomes_by_domain "${f}"
  jcheck "${f}" "relay.open == (verdict == open)" '.relay.open == (.relay.verdict == "open")'
  jcheck "${f}" "healthy == (success and relay verdict != open)" \
    '.healthy == (.success and .relay.verdict != "open")'
  jcheck "${f}" "only reserved test domains or the server's own names in relay addresses" \
    'all(.relay.attempts[]; (.rcpt_to + .mail_from) | test("example\\.(net|org|com)|mx\\.test|127\\.0\\.0\\.1|^<>$"))'
  jcheck "${f}" "transcript: no DATA/BDAT command" \
    'all(.transcript[]; (.direction != "C") or ((.text | test("^(DATA|BDAT)\\b"; "i")) | not))'
  jcheck "${f}" "transcript: the last command is QUIT, answered 221" \
    '([.transcript[] | select(.direction == "C")] | last | .text | test("^QUIT$"; "i"))
     and ([.transcript[] | select(.direction == "S")] | last | .text | test("^221"))'
}

# ---- The server's record, in order (exim_test.sh, sendmail_test.sh) -------------------------
# ordered_truth_checks NAME RECORD: NAME.truth holds what the server answered, from its RECORD
# ("its mainlog"), one line per MAIL it refused and per RCPT: "VERB<TAB>address<TAB>code<TAB>
# reason". The prober's MAIL/RCPT results must be exactly those, in order, and its catch-all
# checks those of the smtp-exporter-catch-all- addresses; prints "variant | command | answer".
ordered_truth_checks() {
  local name=$1 record=$2 t=${top}/$1.truth f=${top}/$1.out
  grep -v 'smtp-exporter-catch-all-' "${t}" | cut -f1-3 >"${t}.variants" || true
  grep 'smtp-exporter-catch-all-' "${t}" | cut -f1-3 >"${t}.catchall" || true
  json_events "${f}" >"${top}/${name}.seen.variants"
  json_catch_all_events "${f}" >"${top}/${name}.seen.catchall"
  echo "--- ${name}: truth table (variant | command | ${MTA_NAME}'s answer, from ${record})"
  paste <(jq -r '.relay.attempts[] | select(.outcome != "not_run") | "\(.variant) -> \(.outcome)"' "${f}" 2>/dev/null) \
    <(grep -v 'smtp-exporter-catch-all-' "${t}") | sed 's/^/    /' || true
  sed 's/^/    catch-all check: /' <(grep 'smtp-exporter-catch-all-' "${t}") || true
  check "${name}: the prober's MAIL/RCPT results are exactly what ${MTA_NAME} answered, in order" \
    diff -u "${t}.variants" "${top}/${name}.seen.variants"
  check "${name}: the catch-all checks are exactly what ${MTA_NAME} answered" \
    diff -u <(sort "${t}.catchall") <(sort "${top}/${name}.seen.catchall")
}

# ---- One MTA as a closed and an open instance (exim_test.sh, sendmail_test.sh) --------------
# The scenarios both tests run and what holds in them for any MTA; the test then checks what its
# MTA answers (expect_attempts) and what the MTA's own record says. The test sets MTA_NAME and
# MTA_VERSION (the software and version its greeting must show) and defines
#   mta_probe NAME RC DIR ARGS...  probe (above), and keep the server DIR's record of the probe
#   mta_truth_checks NAME          the prober's MAIL/RCPT results against that record
#   mta_session_checks NAME        every session of the probe ended as it should, no DATA/BDAT
# Every probe targets an IP literal without reverse DNS (no DNS query at all); with TLS it
# verifies mx.test against the test CA in ${top}/ca (mta_tls).
mta_args=(--timeout 20s --no-reverse-dns)

# mta_greeting_checks FILE: the greeting of mx.test names the MTA and the version of its package.
mta_greeting_checks() {
  jcheck "$1" "greeting: hostname mx.test" '.greeting.hostname == "mx.test"'
  jcheck "$1" "greeting: code 220" '.greeting.code == 220'
  jcheck "$1" "greeting: software ${MTA_NAME}, version ${MTA_VERSION} (from the package)" \
    '.greeting.software == $s and .greeting.version == $v' --arg s "${MTA_NAME}" --arg v "${MTA_VERSION}"
  jcheck "$1" "esmtp true" '.esmtp == true'
}

# mta_json_probe NAME RC DIR TARGET ARGS...: mta_probe with JSON output; 0 when stdout is JSON.
mta_json_probe() {
  local name=$1 want=$2 dir=$3 target=$4
  shift 4
  mta_probe "${name}" "${want}" "${dir}" "${target}" "${mta_args[@]}" "$@" --output json
  is_json "${name}"
}

# closed_basic_scenario NAME DIR TARGET: the basic relay variants, STARTTLS verified: the closed
# instance is healthy, its relay closed; nothing accepted, a random local part at mx.test refused.
closed_basic_scenario() {
  local name=$1 f=${top}/$1.out
  if mta_json_probe "${name}" 0 "$2" "$3" --relay-test "${mta_tls[@]}"; then
    mta_greeting_checks "${f}"
    jcheck "${f}" "healthy, verdict UP" '.healthy == true and (.verdict | test("^UP"))'
    jcheck "${f}" "starttls offered and success, no fallback" \
      '.starttls.offered == true and .starttls.success == true and (.starttls.plaintext_fallback // false) == false'
    jcheck "${f}" "tls: TLSv1.2/1.3, verified (chain and hostname) with the test CA" \
      '(.tls.version | test("^TLSv1\\.[23]$")) and .tls.verified == true
       and .tls.chain_verified == true and .tls.hostname_verified == true'
    jcheck "${f}" "tls_capabilities without STARTTLS (RFC 3207)" \
      '[.tls_capabilities.extensions[].keyword | ascii_upcase] | index(["STARTTLS"]) == null'
    jcheck "${f}" "relay verdict closed, not open" '.relay.verdict == "closed" and .relay.open == false'
    jcheck "${f}" "relay: the 6 basic variants ran" \
      '[.relay.attempts[].variant]
       == ["null_sender", "external", "spoof_local_name", "percent_name", "source_route_name", "bang_name"]'
    jcheck "${f}" "relay: nothing accepted (no 2yz at RCPT)" \
      'all(.relay.attempts[]; (.rcpt_code // 0) < 200 or (.rcpt_code // 0) >= 300)'
    jcheck "${f}" "catch_all false (a random local part at mx.test is refused)" '.relay.catch_all == false'
    jcheck "${f}" "catch_all_checks: mx.test asked and refused" \
      'any(.relay.catch_all_checks[]; .domain == "mx.test" and .accepted == false and .rcpt_code >= 500)'
    jcheck "${f}" "relay.reconnects 0 (no syntax errors in the basic set)" '.relay.reconnects == 0'
    check "${name}: outcomes and verdict follow from ${MTA_NAME}'s replies (catch-all false)" \
      outcomes_follow "${name}" false
    relay_common_checks "${f}"
  fi
  mta_truth_checks "${name}"
  mta_session_checks "${name}"
}

# all_variants_scenario NAME RC DIR TARGET VERDICT: every relay variant (at least 16, names
# unique), the relay verdict VERDICT (closed|open); for a closed one every variant is refused.
all_variants_scenario() {
  local name=$1 verdict=$5 f=${top}/$1.out
  if mta_json_probe "${name}" "$2" "$3" "$4" --relay-test --relay-variants all "${mta_tls[@]}"; then
    jcheck "${f}" "relay verdict ${verdict}" '.relay.verdict == $v and .relay.open == ($v == "open")' \
      --arg v "${verdict}"
    jcheck "${f}" "at least 16 variants, names unique" \
      '(.relay.attempts | length) >= 16 and ([.relay.attempts[].variant] | length == (unique | length))'
    if [[ "${verdict}" == closed ]]; then
      jcheck "${f}" "healthy" '.healthy == true'
      jcheck "${f}" "every variant refused (${MTA_NAME} never accepted one)" \
        'all(.relay.attempts[]; .outcome == "refused")'
      jcheck "${f}" "catch_all false" '.relay.catch_all == false'
      check "${name}: outcomes and verdict follow from ${MTA_NAME}'s replies (catch-all false)" \
        outcomes_follow "${name}" false
    fi
    relay_common_checks "${f}"
  fi
  mta_truth_checks "${name}"
  mta_session_checks "${name}"
}

# text_scenario NAME DIR TARGET BANNER REFUSAL: the text output shows the MTA's banner and its
# relay refusal (grep patterns).
text_scenario() {
  local name=$1 out=${top}/$1.out
  mta_probe "${name}" 0 "$2" "$3" "${mta_args[@]}" --relay-test "${mta_tls[@]}" --output text
  cat "${top}/${name}.cmd" "${out}"
  check "${name}: shows the ${MTA_NAME} banner" grep -q "$4" "${out}"
  check "${name}: shows ${MTA_NAME}'s relay refusal" grep -q "$5" "${out}"
  mta_session_checks "${name}"
}

# unverified_starttls_scenario NAME DIR TARGET: without the test CA, opportunistic STARTTLS
# succeeds and reports the failed verification; the probe succeeds.
unverified_starttls_scenario() {
  if mta_json_probe "$1" 0 "$2" "$3" --server-name mx.test; then
    jcheck "${top}/$1.out" "success, starttls success, chain not verified, verified false" \
      '.success == true and .starttls.success == true and .tls.chain_verified == false and .tls.verified == false'
  fi
  mta_session_checks "$1"
}

# implicit_tls_scenario NAME DIR TARGET: TLS from the first byte (SMTPS), verified; no STARTTLS;
# the relay closed.
implicit_tls_scenario() {
  local name=$1 f=${top}/$1.out
  if mta_json_probe "${name}" 0 "$2" "$3" --implicit-tls "${mta_tls[@]}" --relay-test; then
    mta_greeting_checks "${f}"
    jcheck "${f}" "implicit TLS: success, verified" '.success == true and .implicit_tls == true and .tls.verified == true'
    jcheck "${f}" "implicit TLS: no STARTTLS sent" \
      'all(.transcript[]; (.direction != "C") or ((.text | test("^STARTTLS"; "i")) | not))'
    jcheck "${f}" "implicit TLS: relay closed" '.relay.verdict == "closed"'
    check "${name}: outcomes and verdict follow from ${MTA_NAME}'s replies (catch-all false)" \
      outcomes_follow "${name}" false
  fi
  mta_truth_checks "${name}"
  mta_session_checks "${name}"
}

# delayed_greeting_scenario NAME DIR TARGET: a server that waits 2 s before its greeting: the
# greeting step and the first server line take at least 2 s, and the probe succeeds.
delayed_greeting_scenario() {
  local name=$1 f=${top}/$1.out
  if mta_json_probe "${name}" 0 "$2" "$3" --starttls off; then
    jcheck "${f}" "success" '.success == true'
    jcheck "${f}" "greeting step duration >= 2 s (and < 10 s)" \
      '.steps[] | select(.step == "greeting") | .duration_seconds >= 2 and .duration_seconds < 10'
    jcheck "${f}" "first server line at >= 2 s in the transcript" \
      '[.transcript[] | select(.direction == "S")][0].at_seconds >= 2'
    mta_greeting_checks "${f}"
  fi
  mta_session_checks "${name}"
}

# open_basic_scenario NAME DIR TARGET CATCH_ALL: the basic relay variants against the open
# instance: UNHEALTHY, an open relay; CATCH_ALL (true|false) is what its config says of a random
# local part at mx.test, and the outcomes follow from the replies and from it.
open_basic_scenario() {
  local name=$1 catch_all=$4 f=${top}/$1.out
  if mta_json_probe "${name}" 1 "$2" "$3" --relay-test "${mta_tls[@]}"; then
    mta_greeting_checks "${f}"
    jcheck "${f}" "relay verdict open, healthy false, verdict UNHEALTHY" \
      '.relay.verdict == "open" and .relay.open == true and .healthy == false and (.verdict | test("^UNHEALTHY"))'
    jcheck "${f}" "the verdict names the open relay" '.verdict | test("^UNHEALTHY: open relay")'
    jcheck "${f}" "catch_all ${catch_all} (from the instance's config)" \
      '.relay.catch_all == ($c == "true")' --arg c "${catch_all}"
    check "${name}: outcomes and verdict follow from ${MTA_NAME}'s replies (catch-all ${catch_all})" \
      outcomes_follow "${name}" "${catch_all}"
    relay_common_checks "${f}"
  fi
  mta_truth_checks "${name}"
  mta_session_checks "${name}"
}

# ---- Servers whose log shows every command and reply (aiosmtpd, Haraka, Postfix catch-all) ---
# The test sets served_end, served_cmd and served_reply: the EREs of the end of a session in the
# server's log and of what stands before a command and before a reply code in a log line.
served_end='' served_cmd='' served_reply=''
declare -gA served_sessions=() # INSTANCE -> how many probes talked to it
# served_count_probe NAME INSTANCE RC LOG ARGS...: served_probe against LOG, one more session of
# INSTANCE.
served_count_probe() {
  local name=$1 inst=$2 want=$3 log=$4
  shift 4
  served_probe "${name}" "${want}" "${log}" "${served_end}" "$@"
  served_sessions[${inst}]=$((${served_sessions[${inst}]:-0} + 1))
}
# served_json_probe NAME INSTANCE RC LOG ARGS...: the same; 0 when stdout is JSON, and then the
# server's truth (NAME.truth, server_truth) and the truth table.
served_json_probe() {
  served_count_probe "$@"
  is_json "$1" || return 1
  server_truth "$1" "${served_cmd}" "${served_reply}"
  truth_table "$1"
}

# rcpt_truth_checks NAME SERVER CATCH_ALL: the RCPT codes in the JSON are those in SERVER's log,
# and every outcome and the relay verdict follow from them (outcomes_follow NAME CATCH_ALL).
rcpt_truth_checks() {
  check "$1: the RCPT codes in the JSON are those in $2's log" same_rcpt_codes "$1"
  check "$1: every outcome and the relay verdict follow from $2's replies (catch-all $3)" \
    outcomes_follow "$1" "$3"
}

# closed_catch_all_checks FILE NAME: a catch-all (any local part at mx.test accepted) that refuses
# to relay: UP, the relay test complete and closed, the random local part accepted, no attempt
# accepted (hacks at mx.test are catch_all), no finding of an open relay.
closed_catch_all_checks() {
  local f=$1 n=$2
  jcheck "${f}" "${n}: success, healthy, verdict UP (a catch-all is not an open relay)" \
    '.success == true and .healthy == true and (.verdict | test("^UP"))'
  jcheck "${f}" "${n}: relay ran, verdict closed, open false, complete" \
    '.relay.ran == true and .relay.verdict == "closed" and .relay.open == false and .relay.complete == true'
  jcheck "${f}" "${n}: relay.catch_all true" '.relay.catch_all == true'
  jcheck "${f}" "${n}: a catch-all check at mx.test with a random local part, accepted with 250" \
    'any(.relay.catch_all_checks[]; .domain == "mx.test"
         and (.rcpt_to | test("^<?smtp-exporter-catch-all-[0-9a-f]{12}@mx\\.test>?$"))
         and .rcpt_code == 250 and .accepted == true)'
  jcheck "${f}" "${n}: no attempt has outcome accepted, no finding says open relay" \
    'all(.relay.attempts[]; .outcome != "accepted") and all(.findings[]; test("open relay"; "i") | not)'
}

# hacks_are_catch_all_checks FILE NAME: every attempt is refused or catch_all, and each one the
# catch-all accepted (250) is an address hack.
hacks_are_catch_all_checks() {
  jcheck "$1" "$2: every outcome is refused or catch_all" \
    'all(.relay.attempts[]; .outcome == "refused" or .outcome == "catch_all")'
  jcheck "$1" "$2: every 250 went to a hack and is catch_all" \
    'all(.relay.attempts[] | select(.rcpt_code == 250); .hack == true and .outcome == "catch_all")'
}
