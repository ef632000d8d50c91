#!/bin/sh
# Runs a check script with the first python3 that has PyYAML (the PATH's, then Debian's);
# exit 77 (skip) when there is none. usage: run_python.sh SCRIPT [ARGS...]
for python in python3 /usr/bin/python3; do
  if command -v "$python" >/dev/null 2>&1 && "$python" -c 'import yaml' 2>/dev/null; then
    exec "$python" "$@"
  fi
done
echo "no python3 with PyYAML (apt-get install python3-yaml); skipping"
exit 77
