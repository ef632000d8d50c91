#!/usr/bin/env bash
# Throwaway Sendmail 8 instances for the real-MTA tests (tests/mta/sendmail_test.sh).
#
# The binary comes from Debian's sendmail-bin package and the m4 macros from sendmail-cf, both
# unpacked (never installed: they conflict with Postfix) by scripts/fetch-test-mtas under
# /opt/smtp-exporter-test-mtas. Each instance's sendmail.cf is built with m4 at test time; the
# instance lives entirely in its own directory (cf, queue, aliases, pid and status files, TLS
# files, traffic log), listens on 127.0.0.1 only and never delivers anything: delivery mode is
# queueonly and no queue runner is started, no MSA port is opened, nothing is ever fed to a
# mailer.
#
# No DNS: the daemon runs in its own UTS and mount namespaces with hostname mx.test and its own
# /etc/hosts and /etc/nsswitch.conf ("hosts: files"; see sm_run); confDOMAIN_NAME fixes
# $j = mx.test, FEATURE(`nocanonify') and FEATURE(`accept_unresolvable_domains') stop the
# rulesets from resolving addresses, the service switch file says "hosts files" (so sendmail
# does not use the name server at all), interfaces are not probed and ident (RFC 1413) is off.
#
# The truth: this machine has no syslog (sendmail logs only through syslog), so the daemon runs
# with -X: its traffic log, every line of every SMTP session as sendmail read and wrote it
# ("PID <<< command" read, "PID >>> reply" written), is the record of what the server answered.
#
# Two flavours:
#   closed  a normal MX for mx.test (local-host-names): local parts are checked against the
#           aliases (postmaster, user) and the password file (root); unknown users and relaying
#           are refused (Sendmail's default check_rcpt). Sendmail lets any client at 127.0.0.1
#           relay ("originated locally"), and the prober can only come from there: the closed
#           instance's cf drops those rules (see sm_create).
#   open    the same plus FEATURE(`promiscuous_relay'): an open relay.
# Both offer STARTTLS with the test CA's mx.test certificate. Optional extra ports: SMTPS_PORT
# speaks TLS from the first byte (DaemonPortOptions M=s), DELAY_PORT pauses 2 s before the
# greeting (FEATURE(`greet_pause'), set per port by a Local_greet_pause rule on ${daemon_port}).
#
# Use as a library (source mta_lib.sh first; the caller calls sm_stop_all at exit):
#   sm_binary / sm_cf_dir           -> the unpacked sendmail binary / m4 macro folder
#   sm_version                      -> the package's upstream version ("8.17.1.9")
#   sm_users                        -> creates the smmta and smmsp users and groups (idempotent)
#   sm_create DIR FLAVOUR PORT CERTDIR [SMTPS_PORT [DELAY_PORT]]
#   sm_run DIR ARGS...              -> execs the instance's sendmail (-C DIR/sendmail.cf ARGS) in
#                                      its namespaces; never run it outside them (DNS)
#   sm_start DIR                    -> starts "sendmail -C DIR/sendmail.cf -bD -X ..." in the
#                                      background and waits until every port listens
#   sm_stop DIR / sm_stop_all
#   sm_queue_files DIR              -> prints every file in the queue directory (must be none)
#   sm_traffic DIR                  -> prints the traffic log
#
# Or standalone, for manual poking (Ctrl-C stops and removes the instance):
#   sendmail_instance.sh closed|open [PORT]
#
# Requirements: m4, openssl, ss, unshare and mount (util-linux); root (namespaces, and the daemon
# binds and forks as root).

SM_INSTANCES=()

sm_log_msg() { printf '[sendmail_instance] %s\n' "$*" >&2; }

sm_binary() { printf '%s/usr/libexec/sendmail/sendmail\n' "$(mta_root sendmail-bin)"; }
sm_cf_dir() { printf '%s/usr/share/sendmail/cf\n' "$(mta_root sendmail-cf)"; }

# Upstream version of the unpacked package: "8.17.1.9-2+deb12u2" -> "8.17.1.9".
sm_version() {
  local v
  v=$(<"$(mta_root sendmail-bin)/.unpacked")
  v=${v#*:}
  printf '%s\n' "${v%%-*}"
}

# Debian's sendmail runs as smmta and queues submissions as smmsp.
sm_users() {
  local u
  for u in smmta smmsp; do
    getent group "${u}" >/dev/null || groupadd --system "${u}"
    getent passwd "${u}" >/dev/null ||
      useradd --system --gid "${u}" --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "${u}"
  done
}

# sm_run DIR ARGS...: execs the instance's sendmail with -C DIR/sendmail.cf ARGS in private UTS
# and mount namespaces (the rest of the machine is untouched): there the hostname is mx.test and
# /etc/hosts and /etc/nsswitch.conf are the instance's own ("hosts: files"), so sendmail's
# start-up lookup of its own name, which happens before it reads any config, sends no DNS query
# and does not sleep 60 s over an unqualified name. The network is shared (the daemon listens on
# the machine's 127.0.0.1); exec keeps the caller's $! the sendmail pid.
sm_run() {
  local dir=$1
  shift
  # shellcheck disable=SC2016 # $1/$2 belong to the inner shell
  exec unshare --uts --mount --propagation private -- /bin/sh -c '
    dir=$1 binary=$2
    shift 2
    hostname mx.test &&
      mount --bind "${dir}/etc/hosts" /etc/hosts &&
      mount --bind "${dir}/etc/nsswitch.conf" /etc/nsswitch.conf &&
      exec "${binary}" -C "${dir}/sendmail.cf" "$@"' sh "${dir}" "$(sm_binary)" "$@"
}

# sm_create DIR FLAVOUR PORT CERTDIR [SMTPS_PORT [DELAY_PORT]]
sm_create() {
  local dir=$1 flavour=$2 port=$3 certdir=$4 smtps_port=${5:-} delay_port=${6:-}
  local cfdir relay_feature=""
  case "${flavour}" in
    closed) ;;
    open) relay_feature="FEATURE(\`promiscuous_relay')dnl" ;;
    *)
      sm_log_msg "unknown flavour ${flavour} (closed|open)"
      return 2
      ;;
  esac
  cfdir=$(sm_cf_dir)
  command -v m4 >/dev/null || {
    sm_log_msg "m4 is not installed (apt-get install m4)"
    return 1
  }
  mkdir -p "${dir}/etc" "${dir}/mqueue" "${dir}/log"
  # Sendmail refuses files in group- or world-writable directories; the parents must be safe.
  chmod 755 "$(dirname "${dir}")" "${dir}" "${dir}/etc" "${dir}/log"
  chmod 700 "${dir}/mqueue"
  cp "${certdir}/mx.test.pem" "${certdir}/mx.test.key" "${certdir}/ca.pem" "${dir}/etc/"
  chmod 600 "${dir}/etc/mx.test.key"
  chmod 644 "${dir}/etc/mx.test.pem" "${dir}/etc/ca.pem"

  printf 'mx.test\n' >"${dir}/etc/local-host-names"
  printf 'postmaster: root\nuser: root\nMAILER-DAEMON: postmaster\n' >"${dir}/etc/aliases"
  # The prober always comes from 127.0.0.1; that address must not be one of sendmail's own names
  # ($=w), or sendmail would let it relay: it reverse-resolves to client.invalid (forward
  # confirmed). mx.test, the hostname, resolves (it must have a dot) to an address nobody uses.
  printf '127.0.0.1\tclient.invalid\n127.0.1.1\tmx.test\n' >"${dir}/etc/hosts"
  printf 'passwd:\tfiles\ngroup:\tfiles\nshadow:\tfiles\nhosts:\tfiles\n' >"${dir}/etc/nsswitch.conf"
  printf 'hosts\tfiles\naliases\tfiles\npasswd\tfiles\n' >"${dir}/etc/service.switch"
  : >"${dir}/etc/helpfile"
  : >"${dir}/etc/sendmail.st"
  chmod 644 "${dir}/etc/"{local-host-names,aliases,hosts,nsswitch.conf,service.switch,helpfile,sendmail.st}

  local extra_ports="" greet=""
  [[ -z "${smtps_port}" ]] ||
    extra_ports="DAEMON_OPTIONS(\`Port=${smtps_port}, Addr=127.0.0.1, Family=inet, Name=MTA-SMTPS, M=s')dnl"
  if [[ -n "${delay_port}" ]]; then
    extra_ports="${extra_ports}
DAEMON_OPTIONS(\`Port=${delay_port}, Addr=127.0.0.1, Family=inet, Name=MTA-delay')dnl"
    greet="SLocal_greet_pause
R\$*		\$: \$&{daemon_port}
R${delay_port}		\$# 2000"
  fi

  cat >"${dir}/sendmail.mc" <<EOF
divert(-1)
# Generated by tests/mta/sendmail_instance.sh (flavour ${flavour}); throwaway.
divert(0)dnl
include(\`${cfdir}/m4/cf.m4')dnl
VERSIONID(\`smtp_exporter test instance (${flavour})')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mx.test')dnl
define(\`confSMTP_LOGIN_MSG', \`\$j Sendmail \$v/\$Z; \$b')dnl
define(\`QUEUE_DIR', \`${dir}/mqueue')dnl
define(\`confPID_FILE', \`${dir}/sendmail.pid')dnl
define(\`STATUS_FILE', \`${dir}/etc/sendmail.st')dnl
define(\`HELP_FILE', \`${dir}/etc/helpfile')dnl
define(\`ALIAS_FILE', \`${dir}/etc/aliases')dnl
define(\`confCW_FILE', \`${dir}/etc/local-host-names')dnl
define(\`confSERVICE_SWITCH_FILE', \`${dir}/etc/service.switch')dnl
define(\`confHOSTS_FILE', \`${dir}/etc/hosts')dnl
define(\`confDEF_USER_ID', \`smmta:smmta')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confTO_IDENT', \`0s')dnl
define(\`confDELIVERY_MODE', \`queueonly')dnl
define(\`confREFUSE_LA', \`500')dnl
define(\`confQUEUE_LA', \`500')dnl
define(\`confDELAY_LA', \`0')dnl
define(\`confMIN_FREE_BLOCKS', \`0')dnl
define(\`confPRIVACY_FLAGS', \`authwarnings,novrfy,noexpn,restrictqrun')dnl
define(\`confLOG_LEVEL', \`9')dnl
define(\`confCACERT_PATH', \`${dir}/etc')dnl
define(\`confCACERT', \`${dir}/etc/ca.pem')dnl
define(\`confSERVER_CERT', \`${dir}/etc/mx.test.pem')dnl
define(\`confSERVER_KEY', \`${dir}/etc/mx.test.key')dnl
dnl The test's temp dir lies under /tmp (world-writable, sticky).
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`use_cw_file')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`greet_pause', \`0')dnl
${relay_feature}
DAEMON_OPTIONS(\`Port=${port}, Addr=127.0.0.1, Family=inet, Name=MTA')dnl
${extra_ports}
MAILER(\`local')dnl
MAILER(\`smtp')dnl
LOCAL_RULESETS
# Belt and braces: the prober must never send DATA; should it, the message is refused.
Scheck_data
R\$*		\$#error \$@ 5.7.1 \$: "554 this test instance never accepts a message"
${greet}
EOF
  m4 "${dir}/sendmail.mc" >"${dir}/sendmail.cf" 2>"${dir}/log/m4.err" || {
    sm_log_msg "m4 failed on ${dir}/sendmail.mc:"
    cat "${dir}/log/m4.err" >&2
    return 1
  }
  # Sendmail's Relay_ok ruleset lets every client at 127.0.0.1 (or ::1) relay, "originated
  # locally", whatever the configuration says. The prober can only come from there, so the
  # closed instance drops those rules and treats it like any remote client (promiscuous_relay
  # has no Relay_ok ruleset at all).
  local n want=3
  [[ "${flavour}" == closed ]] || want=0
  n=$(grep -cE '^R(127\.0\.0\.1|IPv6:0:0:0:0:0:0:0:1|IPv6:::1)\s+\$@ RELAY\s+originated locally$' \
    "${dir}/sendmail.cf" || true)
  if [[ "${n}" != "${want}" ]]; then
    sm_log_msg "expected ${want} 'originated locally' loopback rules in ${dir}/sendmail.cf, found ${n}"
    return 1
  fi
  sed -i -E '/^R(127\.0\.0\.1|IPv6:0:0:0:0:0:0:0:1|IPv6:::1)\s+\$@ RELAY\s+originated locally$/d' \
    "${dir}/sendmail.cf"
  chmod 644 "${dir}/sendmail.cf"
  printf '%s\n' "${port}" >"${dir}/port"
  printf '%s\n' "${flavour}" >"${dir}/flavour"
  printf '%s\n' "${smtps_port}" >"${dir}/smtps_port"
  printf '%s\n' "${delay_port}" >"${dir}/delay_port"
  # newaliases: builds etc/aliases.db (hash) for this instance.
  (sm_run "${dir}" -bi) >"${dir}/log/newaliases.out" 2>&1 || {
    sm_log_msg "newaliases failed for ${dir}:"
    cat "${dir}/log/newaliases.out" >&2
    return 1
  }
}

# sm_start DIR: the daemon in the foreground (-bD) as a background job of this shell, without a
# queue runner (no -q), with its traffic log (-X); waits until every port listens.
sm_start() {
  : >"$1/log/traffic"
  SM_INSTANCES+=("$1")
  mta_start_server "$1" "$1/daemon.bgpid" "$1/log/daemon.out" 15 \
    sm_run "$1" -bD -X "$1/log/traffic"
}

# The daemon's own pid (this shell's job); its session children end with their connections.
sm_stop() { mta_stop_pidfile "$1/daemon.bgpid"; }

sm_stop_all() {
  mta_stop_each sm_stop "${SM_INSTANCES[@]}"
  SM_INSTANCES=()
}

sm_queue_files() {
  find "$1/mqueue" -type f 2>/dev/null || true
}

sm_traffic() { cat "$1/log/traffic" 2>/dev/null || true; }

# ---- standalone use ----
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  # shellcheck source-path=SCRIPTDIR source=mta_lib.sh
  source "${here}/mta_lib.sh"
  mta_by_hand sendmail 'closed|open' sm_stop_all "$@"
  mta_need sendmail-bin sendmail-cf
  sm_users
  sm_create "${top}/${flavour}" "${flavour}" "${port}" "${top}/ca"
  sm_start "${top}/${flavour}"
  mta_serve_on "${top}/${flavour}/daemon.bgpid" \
    "${flavour} Sendmail on 127.0.0.1:${port}; traffic log ${top}/${flavour}/log/traffic"
fi
