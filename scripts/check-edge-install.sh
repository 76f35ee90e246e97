#!/usr/bin/env bash
# An edge device's install, checked as CI would: a fresh venv from requirements-edge.lock
# (make venv-edge), no web, database or report libraries in it, and `anju edge --simulate`
# connecting to a real mosquitto and publishing its state and heartbeats.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(cat "$work/mosquitto.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

make -s venv-edge EDGE_VENV="$work/venv" >/dev/null
py="$work/venv/bin/python"
for module in fastapi uvicorn jinja2 reportlab matplotlib aiosqlite pwdlib amqtt; do
  if "$py" -c "import $module" 2>/dev/null; then
    echo "edge install: $module must not be installed" >&2
    exit 1
  fi
done

port=$("$py" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$port" > "$work/mosquitto.conf"
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$mosquitto" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
echo $! > "$work/mosquitto.pid"
sleep 0.5

timeout 20 mosquitto_sub -p "$port" -t 'anju/#' -v > "$work/seen.log" 2>&1 &
sub=$!
ANJU_EDGE_NORTH_PASSWORD=unused timeout -s INT 15 "$work/venv/bin/anju" edge --device edge-north \
  --simulate --site config/lakeside.yaml --broker "mqtt://127.0.0.1:$port" \
  --data "$work/data" > "$work/edge.log" 2>&1 || true
sleep 1
kill "$sub" 2>/dev/null || true
for topic in anju/lakeside/edge-north/available anju/lakeside/edge-north/events/heartbeat \
    anju/lakeside/edge-north/state/gate_state; do
  if ! grep -q "^$topic " "$work/seen.log"; then
    echo "edge install: nothing on $topic; the edge said:" >&2
    tail -20 "$work/edge.log" >&2
    exit 1
  fi
done
echo "edge install: ok (no hub libraries; anju edge --simulate published its state and heartbeats)"
