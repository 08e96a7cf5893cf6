#!/usr/bin/env bash
# Installs the Debian packages the operations drills use (pgBackRest for point-in-time
# recovery). The drills run PostgreSQL clusters of their own under the `postgres` user.
set -eu
missing=()
command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest)
[ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get install -y -q "${missing[@]}" >/dev/null || {
    $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
  }
fi
