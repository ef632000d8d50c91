#!/usr/bin/env bash
# Checks what tests/netns.sh promises, from inside it: the only interface is lo, it is up, the
# loopback addresses answer, and a connection to any other address fails at once (no route).
set -euo pipefail
fail() { echo "not ok: $*" >&2; exit 1; }
links=$(ip -o link show | awk -F': ' '{print $2}')
[[ "${links}" == lo ]] || fail "interfaces other than lo: ${links//$'\n'/ }"
ip -o link show lo | grep -q 'UP' || fail "lo is down"
echo "ok: only lo, and it is up"
python3 - <<'PY'
import socket, sys
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
socket.create_connection(server.getsockname(), timeout=2).close()
print("ok: 127.0.0.1 reachable")
for address in ("192.0.2.1", "1.1.1.1", "2001:db8::1", "2606:4700:4700::1111"):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM); s.settimeout(2)
    try:
        s.connect((address, 443))
    except OSError as error:
        print(f"ok: {address} unreachable ({error.strerror})")
    else:
        sys.exit(f"not ok: connected to {address}")
PY
