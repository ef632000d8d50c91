#!/usr/bin/env bash
# The container image, built and run for real with podman (issue 12).
#
#   usage: container_test.sh REPO_ROOT
#
# 1. Podman must start a container at all: a tiny image of this machine's /usr/bin/true is run
#    with the settings these machines need (runc, cgroupfs, --ulimit values the kernel accepts:
#    podman's defaults exceed the hard limits here). If it cannot, the test prints podman's error
#    and exits 77 (skipped): that is the only skip, besides not being root.
# 2. The base image debian:bookworm-slim is made from Debian's archive by
#    deploy/docker/debian-base-image (no registry is reachable), unless it exists already;
#    SMTP_EXPORTER_REBUILD_BASE=1 remakes it.
# 3. deploy/Dockerfile is built (docker format, so HEALTHCHECK is kept), with the revision.
#    The build time and the image size are printed; the size must stay under IMAGE_BUDGET_MB.
# 4. Against a real Postfix on 127.0.0.1 (closed relay, STARTTLS with a test CA, its greeting
#    delayed 2 s by `smtpd_client_restrictions = sleep 2`, every session logged):
#    the baked-in config passes --config.check; the image runs read-only as uid 10001 on the host
#    network with a mounted config and a non-default --web.listen-address; /-/healthy, /-/ready
#    and /metrics with a verified STARTTLS probe of that Postfix; the image's HEALTHCHECK (podman
#    healthcheck run) passes on that address (it follows the flag); podman stop (SIGTERM) while a
#    probe waits for the delayed greeting: the container exits 0 within the 3 s grace (+slack),
#    and the server's own log shows that session, opened before the signal, ended with QUIT.
# 5. The sidecar pattern, as in a pod: a container holds a network namespace of its own
#    (--network none: loopback only); a second Postfix runs inside that namespace on
#    127.0.0.1:25 (the host's Postfix joined to it with nsenter, as an MTA container would be);
#    the exporter runs with `--network container:<holder>` and no config at all, and its
#    scheduled probe of 127.0.0.1:25 succeeds. A third container of the image, in the same
#    namespace and running only `sleep`, runs the HEALTHCHECK: healthy while the exporter
#    serves, unhealthy once the exporter is stopped.
#
# Traffic: the image build's apt-get fetches from the Debian mirror apt is configured with; every
# other connection is to 127.0.0.1, on the host or in the namespace this test creates. Nothing is
# delivered (the Postfix instances discard everything; probes never send DATA).
# Containers are removed at exit; the images are kept (podman's layer cache makes a rerun with
# unchanged sources fast). Takes about a minute plus the image build (the build compiles the
# exporter: several minutes on 2 cores).
set -uo pipefail
root=$(cd "${1:?usage: container_test.sh REPO_ROOT}" && pwd)
IMAGE_BUDGET_MB=${IMAGE_BUDGET_MB:-120}
GRACE_S=3 # daemon/exporter.cc kShutdownGrace
# shellcheck source-path=SCRIPTDIR source=../e2e/e2e_lib.sh
source "${root}/tests/e2e/e2e_lib.sh"
# The kit turns on errexit; here a failed check is counted (check/fail) and a failed setup step
# ends the test with its reason (die), so commands expected to fail must not end it.
set +e

if [[ ${EUID} -ne 0 ]]; then
  echo "SKIP: must run as root (rootful podman, Postfix's master)"
  exit 77
fi
command -v podman >/dev/null || {
  echo "SKIP: podman cannot start a container: podman is not installed (scripts/install-deps)"
  exit 77
}
e2e_require postfix curl nsenter ss debootstrap runc
e2e_init container

# runc, not crun (crun refuses these machines' hybrid cgroup layout); cgroupfs (no systemd).
podman_cmd=(podman --runtime runc --cgroup-manager=cgroupfs)
# podman runs the HEALTHCHECK on its interval through a systemd timer; without systemd it logs
# an error for each container it starts or removes (and runs the container all the same). Those
# lines are dropped; the test runs the check itself: podman healthcheck run.
pm() { "${podman_cmd[@]}" "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }
no_timer=(--health-interval=disable)
suffix=$$
containers=()
ct_cleanup() {
  local rc=$? i
  set +e
  # Last started first: the namespace holder goes after the containers that joined it.
  for ((i = ${#containers[@]} - 1; i >= 0; i--)); do
    pm rm -f -t 0 "${containers[i]}" >/dev/null 2>&1 || echo "could not remove ${containers[i]}"
  done
  (exit "${rc}")
  e2e_cleanup
}
trap ct_cleanup EXIT

# ---- 1. can podman start a container? ----------------------------------------------------------
# A rootfs of /usr/bin/true and the libraries it loads: no network, no registry, a second.
mini=${E2E_TOP}/mini
mkdir -p "${mini}/bin"
cp /usr/bin/true "${mini}/bin/true"
for lib in $(ldd /usr/bin/true | grep -o '/[^ ]*'); do
  mkdir -p "${mini}$(dirname "${lib}")"
  cp -L "${lib}" "${mini}${lib}"
done
check_image=localhost/smtp-exporter-podman-check:latest
if ! tar -C "${mini}" -c . | pm import - "${check_image}" >"${E2E_TOP}/import.log" 2>&1; then
  echo "SKIP: podman cannot start a container: podman import failed:"
  cat "${E2E_TOP}/import.log"
  exit 77
fi
# podman asks for nofile=1048576 and nproc=4194304 by default; these machines' hard limits are
# lower, and runc may not raise them. The first of these that starts a container is used.
hard_nofile=$(ulimit -Hn)
[[ "${hard_nofile}" == unlimited ]] && hard_nofile=1048576
ulimits=()
for nproc in "$(ulimit -Hu)" 32768 4096; do
  [[ "${nproc}" == unlimited ]] && nproc=4194304
  try=(--ulimit "nofile=${hard_nofile}:${hard_nofile}" --ulimit "nproc=${nproc}:${nproc}")
  if pm run --rm --network none "${try[@]}" "${check_image}" /bin/true >"${E2E_TOP}/run.log" 2>&1; then
    ulimits=("${try[@]}")
    break
  fi
done
pm rmi "${check_image}" >/dev/null 2>&1
if ((${#ulimits[@]} == 0)); then
  echo "SKIP: podman cannot start a container (runc, cgroupfs, nofile=${hard_nofile}); podman said:"
  cat "${E2E_TOP}/run.log"
  exit 77
fi
pass "podman starts a container (${podman_cmd[*]} ${ulimits[*]})"

# ---- 2. the base image ------------------------------------------------------------------------
t0=${SECONDS}
if [[ "${SMTP_EXPORTER_REBUILD_BASE:-0}" == 1 ]] || ! pm image exists debian:bookworm-slim; then
  ENGINE="${podman_cmd[*]}" "${root}/deploy/docker/debian-base-image" debian:bookworm-slim ||
    die "deploy/docker/debian-base-image failed"
  pass "base image debian:bookworm-slim made from Debian's archive in $((SECONDS - t0)) s"
else
  note "base image debian:bookworm-slim exists already (SMTP_EXPORTER_REBUILD_BASE=1 remakes it)"
fi

# ---- 3. the image -----------------------------------------------------------------------------
image=localhost/smtp_exporter:container-test
revision=$(git -C "${root}" rev-parse --short=12 HEAD 2>/dev/null || echo "")
t0=${SECONDS}
# --format docker: the OCI format has no HEALTHCHECK (podman drops it with a warning).
if ! pm build --format docker "${ulimits[@]}" -f "${root}/deploy/Dockerfile" -t "${image}" \
  --build-arg "SMTP_EXPORTER_REVISION=${revision}" "${root}" >"${E2E_TOP}/build.log" 2>&1; then
  tail -n 40 "${E2E_TOP}/build.log"
  die "podman build -f deploy/Dockerfile failed (last lines above)"
fi
build_s=$((SECONDS - t0))
pass "image built from deploy/Dockerfile in ${build_s} s"
size=$(pm image inspect "${image}" --format '{{.Size}}')
size_mb=$((size / 1000000))
echo "# image size: ${size} bytes (${size_mb} MB; budget ${IMAGE_BUDGET_MB} MB)"
check "image size ${size_mb} MB is under the budget of ${IMAGE_BUDGET_MB} MB" \
  test "${size_mb}" -lt "${IMAGE_BUDGET_MB}"
check "the image's user is 10001:10001" \
  test "$(pm image inspect "${image}" --format '{{.Config.User}}')" = 10001:10001
healthcheck_cmd=$(pm image inspect "${image}" --format '{{json .HealthCheck.Test}}' 2>/dev/null)
check "the image keeps its HEALTHCHECK (${healthcheck_cmd})" \
  grep -q smtp_exporter-healthcheck <<<"${healthcheck_cmd}"
version=$(pm run --rm --read-only "${no_timer[@]}" "${ulimits[@]}" "${image}" --version 2>&1)
check "--version names the revision ${revision:-unknown} (${version})" \
  grep -q -- "${revision:-unknown}" <<<"${version}"
baked=$(pm run --rm --read-only --network none "${no_timer[@]}" "${ulimits[@]}" "${image}" \
  --config.file=/etc/smtp_exporter/smtp_exporter.yml --config.check 2>&1)
rc=$?
check "the baked-in config passes --config.check (${baked})" test "${rc}" -eq 0

# ---- 4. the image against Postfix on the host's loopback ----------------------------------------
pf_make_ca "${E2E_TOP}/ca"
# ---- 5. the sidecar pattern, started first: its default target is probed on a stable offset
# within one minute, so it gets that minute while part 4 runs. -----------------------------------
holder=smtp-exporter-test-mta-${suffix}
containers+=("${holder}")
pm run -d --name "${holder}" --read-only --network none "${ulimits[@]}" debian:bookworm-slim \
  sleep infinity >/dev/null || die "the holder container did not start"
netns=/proc/$(pm inspect "${holder}" --format '{{.State.Pid}}')/ns/net
in_pod() { nsenter --net="${netns}" "$@"; }
pf25=${E2E_TOP}/pf-pod
pf_create "${pf25}" closed 25 "${E2E_TOP}/ca" >/dev/null
PF_INSTANCES+=("${pf25}")
in_pod postfix -c "${pf25}/etc" start-fg >"${pf25}/log/master.out" 2>&1 &
echo "$!" >"${pf25}/master.bgpid"
listens25() { in_pod ss -Hltn 'src 127.0.0.1 and sport = :25' | grep -q .; }
wait_until 15 "Postfix on 127.0.0.1:25 in the pod's namespace" listens25 ||
  die "Postfix did not listen on 127.0.0.1:25 in the holder's namespace: $(cat "${pf25}/log/master.out")"
check "the host's loopback has no port 25 of this Postfix (separate namespace)" \
  eval "! ss -Hltn 'src 127.0.0.1 and sport = :25' | grep -q ."
sidecar=smtp-exporter-test-sidecar-${suffix}
containers+=("${sidecar}")
# Zero config: the image's entrypoint with only a listen address (no --config.file).
pm run -d --name "${sidecar}" --read-only --network "container:${holder}" "${no_timer[@]}" \
  "${ulimits[@]}" \
  "${image}" --web.listen-address=:9025 >/dev/null || die "the sidecar did not start"
checker=smtp-exporter-test-checker-${suffix}
containers+=("${checker}")
pm run -d --name "${checker}" --read-only --network "container:${holder}" "${no_timer[@]}" \
  "${ulimits[@]}" \
  --entrypoint sleep "${image}" infinity >/dev/null || die "the checker did not start"

pf_port=$(pf_free_port)
pf=${E2E_TOP}/pf-host
pf_create "${pf}" closed "${pf_port}" "${E2E_TOP}/ca" >/dev/null
# The greeting waits 2 s, so a probe is surely in flight when SIGTERM comes; every session's
# commands and replies go to the maillog (the server's side of the story).
postconf -c "${pf}/etc" -e 'smtpd_delay_reject = no' 'smtpd_client_restrictions = sleep 2' \
  'debug_peer_list = 127.0.0.1' 'debug_peer_level = 1'
pf_start "${pf}" || die "Postfix did not start"

conf=${E2E_TOP}/conf
mkdir -p "${conf}"
cp "${E2E_TOP}/ca/ca.pem" "${conf}/ca.pem"
cat >"${conf}/smtp_exporter.yml" <<EOF
modules:
  default:
    timeout: 5s
    ehlo_name: probe.container.test
    starttls: required
    tls: {verify: true, server_name: mx.test, ca_file: ca.pem}
targets:
  - address: 127.0.0.1:${pf_port}
    interval: 5s
EOF
chmod 755 "${conf}"
chmod 644 "${conf}"/*
web_port=$(e2e_free_port "${pf_port}")
main=smtp-exporter-test-main-${suffix}
containers+=("${main}")
pm run -d --name "${main}" --read-only --network host "${no_timer[@]}" "${ulimits[@]}" \
  -v "${conf}/smtp_exporter.yml:/etc/smtp_exporter/smtp_exporter.yml:ro" \
  -v "${conf}/ca.pem:/etc/smtp_exporter/ca.pem:ro" \
  "${image}" --config.file=/etc/smtp_exporter/smtp_exporter.yml \
  --web.listen-address="127.0.0.1:${web_port}" >"${E2E_TOP}/run-main.log" 2>&1 ||
  die "podman run failed: $(cat "${E2E_TOP}/run-main.log")"
base=http://127.0.0.1:${web_port}
main_up() { [[ "$(http_get "${base}/-/healthy" /dev/null)" == 200 ]]; }
wait_until 30 "/-/healthy of the container" main_up || {
  pm logs "${main}" 2>&1 | tail -n 20
  die "the container did not serve /-/healthy on 127.0.0.1:${web_port}"
}
pass "/-/healthy answers 200 on 127.0.0.1:${web_port}"
check "/-/ready answers 200" test "$(http_get "${base}/-/ready" /dev/null)" = 200
pid=$(pm inspect "${main}" --format '{{.State.Pid}}')
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/${pid}/status")
check "the exporter runs as uid 10001 (real, effective, saved, fs: ${uids})" \
  test "${uids}" = "10001 10001 10001 10001"
check "the root filesystem is read-only (inspect)" \
  test "$(pm inspect "${main}" --format '{{.HostConfig.ReadonlyRootfs}}')" = true
write=$(pm exec "${main}" bash -c ': >/usr/local/bin/written' 2>&1)
check "a write to the root filesystem fails: ${write}" grep -q 'Read-only file system' <<<"${write}"

target=127.0.0.1:${pf_port}
scrape=${E2E_TOP}/metrics.txt
probed() {
  http_get "${base}/metrics" "${scrape}" >/dev/null
  series_is "${scrape}" smtp_probe_success 1 "target=\"${target}\""
}
if wait_until 30 "a successful probe of ${target} on /metrics" probed; then
  pass "/metrics: smtp_probe_success{target=\"${target}\"} 1"
else
  fail "/metrics has no successful probe of ${target}: $(grep "${target}" "${scrape}" | head -n 5)"
fi
check "/metrics: STARTTLS succeeded and the certificate verified against the test CA" \
  eval "series_is '${scrape}' smtp_starttls_success 1 'target=\"${target}\"' &&
        series_is '${scrape}' smtp_tls_cert_verified 1 'target=\"${target}\"'"
check "/metrics: the banner parsed as Postfix (smtp_greeting_info)" \
  series_is "${scrape}" smtp_greeting_info 1 "hostname=\"mx.test\"" "software=\"Postfix\""
greeting=$(series_value "${scrape}" smtp_probe_step_duration_seconds "target=\"${target}\"" \
  'step="greeting"')
check "/metrics: the greeting step took the server's 2 s delay (${greeting} s)" \
  awk -v g="${greeting:-0}" 'BEGIN { exit !(g >= 1.9) }'
check "Postfix's log shows the probe's EHLO" \
  grep -q '< unknown\[127.0.0.1\]: EHLO probe.container.test' "${pf}/log/maillog"

# The image's own HEALTHCHECK, run by podman, on the non-default address (nothing else may be
# listening on the default one, or a pass would prove nothing).
if ss -Hltn 'sport = :9025' | grep -q .; then
  fail "something listens on port 9025 on this host: the flag-following check proves nothing"
fi
hc=$(pm healthcheck run "${main}" 2>&1)
rc=$?
check "podman healthcheck run passes with --web.listen-address=127.0.0.1:${web_port} (${hc:-exit ${rc}})" \
  test "${rc}" -eq 0
hc=$(pm exec "${main}" /usr/local/bin/smtp_exporter-healthcheck 2>&1)
check "the HEALTHCHECK command checked the flag's address: ${hc}" \
  grep -q "^healthy: 127.0.0.1 port ${web_port} answered 200" <<<"${hc}"

# SIGTERM while a probe waits for the delayed greeting.
sessions() { grep -c 'smtpd\[[0-9]*\]: connect from unknown\[127.0.0.1\]' "${pf}/log/maillog"; }
before=$(sessions)
new_session() { (($(sessions) > before)); }
wait_until 10 "a new probe session" new_session || fail "no new probe of Postfix within 10 s"
smtpd=$(grep -o 'smtpd\[[0-9]*\]: connect from unknown\[127.0.0.1\]' "${pf}/log/maillog" |
  tail -n 1 | grep -o '\[[0-9]*\]' | tr -d '[]')
t_stop=$(date +%s%N)
# smtpd processes serve many sessions: look only after this session's "connect from".
greeted_before=$(awk -v p="smtpd[${smtpd}]: " '
  index($0, p "connect from unknown[127.0.0.1]") { greeted = 0 }
  index($0, p "> unknown[127.0.0.1]: 220 ") { greeted = 1 }
  END { print greeted + 0 }' "${pf}/log/maillog")
pm stop --time 10 "${main}" >/dev/null 2>&1
stop_ms=$((($(date +%s%N) - t_stop) / 1000000))
exit_code=$(pm inspect "${main}" --format '{{.State.ExitCode}}')
check "the probe was in flight at SIGTERM: session smtpd[${smtpd}] not yet greeted" \
  test "${greeted_before}" -eq 0
check "podman stop (SIGTERM): exit code ${exit_code} after ${stop_ms} ms, within the ${GRACE_S} s grace + 2 s" \
  eval "test '${exit_code}' -eq 0 && test '${stop_ms}' -lt $(((GRACE_S + 2) * 1000))"
# Not through pm: its stderr filter runs asynchronously, and the log is read right away.
"${podman_cmd[@]}" logs "${main}" >"${E2E_TOP}/main.log" 2>&1
check "the exporter logged the shutdown with the probe in flight" \
  grep -q 'shutting down.*probes_in_flight=1' "${E2E_TOP}/main.log"
# That session's lines: those of smtpd[PID] from its last "connect from" on (no probe starts
# after SIGTERM, so no later session of that process exists).
awk -v p="smtpd[${smtpd}]: " '
  index($0, p "connect from unknown[127.0.0.1]") { n = 0 }
  index($0, p) { lines[++n] = $0 }
  END { for (i = 1; i <= n; i++) print lines[i] }' "${pf}/log/maillog" >"${E2E_TOP}/session.log"
check "Postfix's log: that session, opened before SIGTERM, got QUIT" \
  grep -q ": < unknown\[127.0.0.1\]: QUIT" "${E2E_TOP}/session.log"
check "Postfix's log: that session ended with quit=1 ($(grep -o 'disconnect from.*' "${E2E_TOP}/session.log"))" \
  grep -q ": disconnect from unknown\[127.0.0.1\].* quit=1" "${E2E_TOP}/session.log"
check "nothing was queued by Postfix" test -z "$(pf_queue_files "${pf}")"

# ---- 5. the sidecar pattern (checks; started before 4) ----------------------------------------
side_scrape=${E2E_TOP}/sidecar-metrics.txt
# The default target is probed on its own stable offset within one minute.
side_probed() {
  in_pod curl -s --max-time 5 -o "${side_scrape}" http://127.0.0.1:9025/metrics &&
    series_is "${side_scrape}" smtp_probe_success 1 'target="127.0.0.1:25"'
}
t0=${SECONDS}
if wait_until 75 "the sidecar's scheduled probe of 127.0.0.1:25" side_probed; then
  pass "sidecar with zero config: smtp_probe_success{target=\"127.0.0.1:25\"} 1 ($((SECONDS - t0)) s)"
else
  fail "sidecar: no successful probe of 127.0.0.1:25: $(grep 127.0.0.1:25 "${side_scrape}" | head -n 5)"
  pm logs "${sidecar}" 2>&1 | tail -n 10
fi
check "the pod's Postfix logged the sidecar's session" \
  grep -q 'connect from unknown\[127.0.0.1\]' "${pf25}/log/maillog"
hc=$(pm healthcheck run "${sidecar}" 2>&1)
check "sidecar: podman healthcheck run passes (${hc:-exit 0})" test $? -eq 0
hc=$(pm healthcheck run "${checker}" 2>&1)
check "HEALTHCHECK in a container next to the exporter: healthy (${hc:-exit 0})" test $? -eq 0
pm stop --time 10 "${sidecar}" >/dev/null 2>&1
hc=$(pm healthcheck run "${checker}" 2>&1)
rc=$?
check "HEALTHCHECK once the exporter is stopped: unhealthy (exit ${rc}: ${hc})" test "${rc}" -ne 0
check "nothing was queued by the pod's Postfix" test -z "$(pf_queue_files "${pf25}")"

if ((E2E_FAILURES > 0)); then
  echo "# --- exporter log (main container) ---"
  tail -n 20 "${E2E_TOP}/main.log" | sed 's/^/#   /'
  echo "# --- Postfix maillog (last lines) ---"
  tail -n 30 "${pf}/log/maillog" | sed 's/^/#   /'
fi
echo "# image build ${build_s} s, image ${size_mb} MB"
e2e_summary
