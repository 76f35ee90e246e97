#!/usr/bin/env bash
# Install the Debian packages Anju needs when they are missing (idempotent):
# mosquitto (test brokers), CJK fonts (rendering plates), chromium (console browser tests),
# and PostgreSQL (scripts/postgres.sh: the storage tests run on both engines).
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei fonts-wqy-zenhei)
# Other fonts for the independent plate-photo generator (simulators/plate_photos.py).
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || need+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/arphic/uming.ttc ] || need+=(fonts-arphic-uming)
[ -f /usr/share/fonts/truetype/arphic/ukai.ttc ] || need+=(fonts-arphic-ukai)
[ -f /usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf ] || need+=(fonts-liberation)
# Browser tests of the console drive Debian's Chromium (a test tool's own download cannot work here).
[ -x /usr/bin/chromium ] || need+=(chromium)
here=$(dirname "$0")
if [ ${#need[@]} -eq 0 ]; then exec bash "$here/postgres.sh"; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Anju needs these Debian packages: ${need[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
# PostgreSQL for the storage tests on both engines: installed, started, database `test`
bash "$here/postgres.sh"
