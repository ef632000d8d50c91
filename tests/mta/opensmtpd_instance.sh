#!/usr/bin/env bash
# Throwaway OpenSMTPD instances on 127.0.0.1 for tests/mta/opensmtpd_test.sh: Debian 12's
# opensmtpd 6.8 package, unpacked by scripts/fetch-test-mtas into
# ${SMTP_EXPORTER_MTA_ROOT:-/opt/smtp-exporter-test-mtas}/opensmtpd (it conflicts with Postfix, so
# it is never installed), run in the foreground (`smtpd -d`) with its config, tables, certificate
# and log in the instance's folder. Nothing is ever delivered: the prober never sends DATA, and
# smtpd starts with its delivery agents paused (-P mda -P mta); the open flavour relays only to
# 127.0.0.1:9 should anything ever be queued (never an MX lookup).
#
# The queue (/var/spool/smtpd), the privsep chroot (/var/lib/opensmtpd/empty) and the control
# socket (/var/run/smtpd.sock) are compiled into the binary. Where a mount namespace is allowed
# (`unshare -m`, the default), each smtpd runs in its own one with the instance's DIR/var over
# /var, DIR/run over /run and its own /etc/hosts and /etc/resolv.conf:
# nothing outside DIR is created or touched, instances can run side by side, smtpd's resolver
# reads /etc/hosts only ("lookup file") and its only nameserver is a sink on 127.0.0.153 that
# records any query. Without a mount namespace the test fails rather than touch the real paths
# or let smtpd's resolver (it looks up every client) query the system's nameserver.
#
# Debian's build runs as the users opensmtpd and opensmtpq (upstream: _smtpd, _smtpq);
# osd_init creates them when missing, as the package's postinst would (system users, no home).
#
# Use as a library (after sourcing tests/mta/mta_lib.sh; the caller's EXIT hooks stop instances):
#   osd_init                        -> OSD_ROOT, OSD_SMTPD, OSD_SMTPCTL, OSD_VERSION; fails when
#                                      no mount namespace can be made
#   osd_dns_sink_start FILE / osd_dns_sink_stop
#                                   -> records any DNS query smtpd sends
#   osd_create DIR FLAVOUR PORT CERTDIR
#       FLAVOUR: closed      local domain mx.test, known users from a table, no relaying
#                open        match from any for any action relay (an open relay)
#                tls-closed  closed + `listen ... tls pki mx.test` (STARTTLS offered)
#                tls-open    open   + `listen ... tls pki mx.test`
#   osd_start DIR                   -> smtpd -d in the background, waits until PORT listens
#   osd_stop DIR / osd_stop_all
#   osd_log DIR                     -> smtpd's stderr (its log, with -v and -T smtp tracing)
#   osd_queue_files DIR             -> every file in the queue directories (none expected)
#   osd_ctl DIR ARGS...             -> smtpctl ARGS against the running instance
#
# Or standalone, for manual poking (Ctrl-C stops it and removes its folder):
#   opensmtpd_instance.sh closed|open|tls-closed|tls-open [PORT]

OSD_INSTANCES=()
# The privsep chroot compiled into Debian's smtpd (strings /usr/sbin/smtpd), like its queue
# (/var/spool/smtpd) and control socket (/var/run/smtpd.sock): inside the instance's namespace.
OSD_CHROOT=/var/lib/opensmtpd/empty
OSD_USERS=(opensmtpd opensmtpq)
# The only nameserver smtpd knows; osd_dns_sink_start listens there and logs
# every query it gets (none expected).
OSD_DNS_SINK_ADDR=127.0.0.153
OSD_DNS_SINK_PID=""
# Recipients the closed flavour knows; any other local part at mx.test is refused.
OSD_KNOWN_USERS=(postmaster alice)

osd_msg() { printf '[opensmtpd_instance] %s\n' "$*" >&2; }

osd_ensure_users() {
  local name
  for name in "${OSD_USERS[@]}"; do
    getent group "${name}" >/dev/null || groupadd --system "${name}"
    id -u "${name}" >/dev/null 2>&1 ||
      useradd --system --gid "${name}" --home-dir "${OSD_CHROOT}" --no-create-home \
        --shell /usr/sbin/nologin --comment "OpenSMTPD (smtp_exporter tests)" "${name}"
  done
}

# True when this process may make a mount namespace and bind-mount in it.
osd_can_unshare() {
  local probe_dir
  command -v unshare >/dev/null 2>&1 || return 1
  probe_dir=$(mktemp -d /tmp/osd-unshare.XXXXXX) || return 1
  if unshare -m --propagation private -- mount --bind "${probe_dir}" "${probe_dir}" \
    >/dev/null 2>&1; then
    rmdir "${probe_dir}"
    return 0
  fi
  rmdir "${probe_dir}"
  return 1
}

osd_init() {
  mta_need opensmtpd
  OSD_ROOT=$(mta_root opensmtpd)
  OSD_SMTPD=${OSD_ROOT}/usr/sbin/smtpd
  OSD_SMTPCTL=${OSD_ROOT}/usr/sbin/smtpctl
  [[ -x "${OSD_SMTPD}" ]] || mta_skip "no smtpd in ${OSD_ROOT} (run scripts/fetch-test-mtas opensmtpd)"
  OSD_VERSION=$({ "${OSD_SMTPD}" -h 2>&1 || true; } | sed -n 's/^version: OpenSMTPD //p')
  if [[ -z "${OSD_VERSION}" ]]; then
    "${OSD_SMTPD}" -h >&2 || true
    osd_msg "${OSD_SMTPD} does not run (missing libraries? ldd it)"
    return 1
  fi
  osd_ensure_users
  if ! osd_can_unshare; then
    osd_msg "cannot make a mount namespace (unshare -m): smtpd would need the real /var paths" \
      "and the system resolver; refusing"
    return 1
  fi
}

# osd_dns_sink_start LOGFILE: a UDP listener on ${OSD_DNS_SINK_ADDR}:53 that writes one line
# per query (client address, name, type) to LOGFILE and never answers.
osd_dns_sink_start() {
  local logfile=$1 i
  : >"${logfile}"
  python3 -c '
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((sys.argv[1], 53))
out = open(sys.argv[2], "a", buffering=1)
out.write("# listening\n")
while True:
    data, peer = sock.recvfrom(4096)
    i, labels = 12, []
    while i < len(data) and data[i]:
        labels.append(data[i + 1:i + 1 + data[i]].decode("ascii", "replace"))
        i += 1 + data[i]
    qtype = int.from_bytes(data[i + 1:i + 3], "big") if i + 3 <= len(data) else -1
    out.write("%s %s type=%d\n" % (peer[0], ".".join(labels), qtype))
' "${OSD_DNS_SINK_ADDR}" "${logfile}" 2>>"${logfile}.err" &
  OSD_DNS_SINK_PID=$!
  for ((i = 0; i < 50; i++)); do
    grep -q '^# listening' "${logfile}" && return 0
    kill -0 "${OSD_DNS_SINK_PID}" 2>/dev/null || break
    sleep 0.1
  done
  osd_msg "DNS sink on ${OSD_DNS_SINK_ADDR}:53 did not start: $(cat "${logfile}.err" 2>/dev/null)"
  return 1
}

osd_dns_sink_stop() {
  [[ -n "${OSD_DNS_SINK_PID}" ]] || return 0
  kill -TERM "${OSD_DNS_SINK_PID}" 2>/dev/null || true
  wait "${OSD_DNS_SINK_PID}" 2>/dev/null || true
  OSD_DNS_SINK_PID=""
}

# ---- instances ----
# The folder that plays /var/spool/smtpd for DIR's smtpd.
osd_spool() {
  printf '%s\n' "$1/var/spool/smtpd"
}

osd_create() {
  local dir=$1 flavour=$2 port=$3 certdir=$4 etc listen user
  etc=${dir}/etc
  case "${flavour}" in
    closed | open | tls-closed | tls-open) ;;
    *)
      osd_msg "unknown flavour ${flavour} (closed|open|tls-closed|tls-open)"
      return 2
      ;;
  esac
  mkdir -p "${etc}" "${dir}/log"
  # smtpd's privsep children must not reach the instance folder; only root reads it.
  chmod 755 "${dir}"
  chmod 700 "${etc}"
  cp "${certdir}/mx.test.pem" "${certdir}/mx.test.key" "${etc}/"
  chmod 600 "${etc}/mx.test.key"
  : >"${etc}/vusers"
  for user in "${OSD_KNOWN_USERS[@]}"; do
    printf '%s@mx.test\troot\n' "${user}" >>"${etc}/vusers"
  done

  listen="listen on 127.0.0.1 port ${port} hostname mx.test"
  {
    printf '# Generated by tests/mta/opensmtpd_instance.sh (flavour %s); throwaway.\n' "${flavour}"
    if [[ "${flavour}" == tls-* ]]; then
      printf 'pki mx.test cert "%s"\n' "${etc}/mx.test.pem"
      printf 'pki mx.test key "%s"\n' "${etc}/mx.test.key"
      # "tls": STARTTLS offered, not required (opportunistic, like an MX on port 25).
      listen="${listen} tls pki mx.test"
    fi
    printf '%s\n' "${listen}"
    case "${flavour}" in
      *closed)
        cat <<EOF
# Known users of mx.test; any other local part there is refused at RCPT.
table vusers file:${etc}/vusers
action "local" mbox virtual <vusers>
# The only rule: mail for mx.test. Nothing else matches, so relaying is refused.
match from any for domain "mx.test" action "local"
EOF
        ;;
      *open)
        cat <<EOF
# OPEN RELAY (on purpose). Never delivers: the prober sends no DATA, delivery is paused
# (-P mta), and the only next hop is 127.0.0.1:9 (no MX lookups).
action "relay" relay host smtp://127.0.0.1:9
match from any for any action "relay"
EOF
        ;;
    esac
  } >"${etc}/smtpd.conf"
  printf '%s\n' "${port}" >"${dir}/port"
  printf '%s\n' "${flavour}" >"${dir}/flavour"

  mkdir -p "${dir}/var/spool" "${dir}/var/lib/opensmtpd/empty" "${dir}/var/mail" \
    "${dir}/var/tmp" "${dir}/run"
  ln -sfn /run "${dir}/var/run"
  chmod 755 "${dir}/var" "${dir}/var/spool" "${dir}/var/lib" "${dir}/var/lib/opensmtpd" \
    "${dir}/var/lib/opensmtpd/empty" "${dir}/run"
  chmod 1777 "${dir}/var/tmp" "${dir}/var/mail"
  printf '127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost\n' "$(hostname)" >"${dir}/hosts"
  # smtpd's own resolver (OpenBSD's asr, built in) looks up every client's PTR and forward-
  # confirms it, DNS first ("lookup bind file"). "lookup file": /etc/hosts only. The only
  # nameserver is the test's DNS sink, which records any query that would still be sent.
  printf '# smtpd (asr): /etc/hosts only\nlookup file\nnameserver %s\noptions timeout:1 attempts:1\n' \
    "${OSD_DNS_SINK_ADDR}" >"${dir}/resolv.conf"
  "${OSD_SMTPD}" -n -f "${etc}/smtpd.conf" >"${dir}/log/configtest" 2>&1 || {
    cat "${dir}/log/configtest" >&2
    return 1
  }
}

# The command prefix that runs a program where DIR's smtpd lives: its own mount namespace (DIR/var
# over /var, DIR/run over /run, DIR's hosts and resolv.conf). The
# prefix ends in exec, so a background job started with it has smtpd's own pid.
osd_prefix() {
  local dir=$1
  # shellcheck disable=SC2016 # expanded by the inner shell
  OSD_PREFIX=(unshare -m --propagation private -- bash -c '
    set -e
    d=$1
    shift
    if [ -e /etc/hosts ]; then mount --bind "$d/hosts" /etc/hosts; fi
    if [ -e /etc/resolv.conf ]; then mount --bind "$d/resolv.conf" /etc/resolv.conf; fi
    mount --bind "$d/var" /var
    mount --bind "$d/run" /run
    exec "$@"' osd-ns "${dir}")
}

osd_start() {
  local dir=$1 i
  # -d foreground, log to stderr; -v verbose; -T smtp traces every command and reply;
  # -P mda -P mta: local delivery and relaying paused from the start.
  osd_prefix "${dir}"
  OSD_INSTANCES+=("${dir}")
  mta_start_server "${dir}" "${dir}/smtpd.pid" "${dir}/log/smtpd.log" 15 \
    "${OSD_PREFIX[@]}" "${OSD_SMTPD}" -d -v -T smtp -P mda -P mta -f "${dir}/etc/smtpd.conf" ||
    return 1
  # The listener is up before the queue has loaded: wait for smtpd to say so.
  for ((i = 0; i < 50; i++)); do
    grep -q 'offline scanning done' "${dir}/log/smtpd.log" && break
    sleep 0.1
  done
  osd_msg "OpenSMTPD ${OSD_VERSION} ready in ${dir}"
}

# The pid is smtpd's parent itself (unshare and bash exec it); SIGTERM stops all its children.
osd_stop() { mta_stop_pidfile "$1/smtpd.pid"; }

osd_stop_all() {
  mta_stop_each osd_stop "${OSD_INSTANCES[@]}"
  OSD_INSTANCES=()
}

osd_log() { cat "$1/log/smtpd.log" 2>/dev/null || true; }

# Every file in the queue directories (incoming holds a message only between MAIL and RSET).
osd_queue_files() {
  local spool q
  spool=$(osd_spool "$1")
  for q in queue incoming temporary corrupt offline purge; do
    [[ -d "${spool}/${q}" ]] && find "${spool}/${q}" -type f
  done
  return 0
}

# smtpctl insists on running setgid opensmtpq (as the package installs it); root borrows the
# group with setpriv instead of a setgid copy.
osd_ctl() {
  local dir=$1 pid
  shift
  pid=$(<"${dir}/smtpd.pid")
  nsenter -t "${pid}" -m -- setpriv --egid=opensmtpq --keep-groups -- "${OSD_SMTPCTL}" "$@"
}

# ---- standalone use ----
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  # shellcheck source-path=SCRIPTDIR source=mta_lib.sh
  source "${here}/mta_lib.sh"
  mta_by_hand opensmtpd 'closed|open|tls-closed|tls-open' 'osd_stop_all; osd_dns_sink_stop' "$@"
  osd_init
  osd_dns_sink_start "${top}/dns-sink.log"
  osd_create "${top}/${flavour}" "${flavour}" "${port}" "${top}/ca"
  osd_start "${top}/${flavour}"
  echo "DNS queries smtpd sent (none expected): ${top}/dns-sink.log"
  mta_serve_on "${top}/${flavour}/smtpd.pid" \
    "${flavour} on 127.0.0.1:${port}; log ${top}/${flavour}/log/smtpd.log"
fi
