#!/usr/bin/env bash
# The official conformance suite straight against everything_server.py (no Forge in front), both eras.
#
#   tests/conformance/run_everything.sh [conformance server options]   # e.g. --scenario tools-call-sampling
#
# Every scored scenario passes in both eras; only the optional Tasks extension (tasks-*) fails.
# Environment: PYTHON (default ./dev's .venv if present, else python3), SHARED (the shared folder).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ -x "$here/../../.venv/bin/python" ] && python="$here/../../.venv/bin/python"
shared=${SHARED:-}
for candidate in "$here/../../../shared" /work/shared; do
  [ -z "$shared" ] && [ -f "$candidate/conformance/run.sh" ] && shared=$candidate
done
[ -f "${shared:-}/conformance/run.sh" ] || { echo "no shared/conformance/run.sh found; set SHARED" >&2; exit 2; }

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" "$here/everything_server.py" http --port "$port" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do
  (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 $server 2>/dev/null || { echo "everything_server.py exited" >&2; exit 2; }
  sleep 0.1
done
bash "$shared/conformance/run.sh" "http://127.0.0.1:$port/mcp" "$@"
