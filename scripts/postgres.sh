#!/usr/bin/env bash
# PostgreSQL for the storage tests on both engines (tests/databases.py): a server on
# 127.0.0.1:5432 that trusts local TCP connections, with a database `test`. Idempotent: a
# running server that answers is left alone; otherwise Debian's package is installed (as
# root), its cluster started, trust auth set for 127.0.0.1 and the database created.
set -euo pipefail
ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
has_test_db() { psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; }
if command -v pg_isready >/dev/null 2>&1 && ready && has_test_db; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "The storage tests need PostgreSQL on 127.0.0.1:5432 (trust auth, database test)." >&2
  echo "As root: bash scripts/postgres.sh (without it, the PostgreSQL cases are skipped)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  echo "installed: postgresql"
fi
version=$(ls /etc/postgresql | sort -V | tail -1)
hba=/etc/postgresql/$version/main/pg_hba.conf
if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
  # first match wins in pg_hba.conf: the trust line goes on top (a test server only)
  sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  pg_ctlcluster "$version" main reload 2>/dev/null || true
fi
pg_ctlcluster "$version" main start 2>/dev/null || true
for _ in $(seq 30); do ready && break; sleep 1; done
ready || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
has_test_db || psql -h 127.0.0.1 -U postgres -qc 'CREATE DATABASE test'
echo "PostgreSQL $version on 127.0.0.1:5432 (database test)"
