#!/usr/bin/env bash
# Installs what the tests and the demo need and a fresh Debian or Ubuntu
# machine lacks: a MariaDB server binary (the tests start their own throwaway
# servers from it; nothing is configured system-wide), and the extras named
# as arguments: chromium (the dashboard's browser test), faketime (the clock
# skew test), galera-4 (the Galera test, with rsync), iproute2 (the README
# walkthrough test's network namespace). Safe to run again: it
# installs only what is missing. SOLOIST_TEST_DSN points the tests at an
# existing server instead of throwaway ones.
set -euo pipefail

need=()
if [ -z "${SOLOIST_TEST_DSN:-}" ] && ! command -v mariadbd >/dev/null && ! command -v mysqld >/dev/null \
   && [ ! -x /usr/sbin/mariadbd ] && [ ! -x /usr/sbin/mysqld ]; then
  need+=(mariadb-server)
fi
for extra in "$@"; do
  case "$extra" in
    chromium) command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium) ;;
    faketime) command -v faketime >/dev/null || need+=(faketime) ;;
    galera-4) [ -e /usr/lib/galera/libgalera_smm.so ] || need+=(galera-4)
              command -v rsync >/dev/null || need+=(rsync) ;;
    iproute2) command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2) ;;
    *) echo "install-deps: unknown extra '$extra'" >&2; exit 2 ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "install-deps: missing ${need[*]}; install them with your package manager, or set SOLOIST_TEST_DSN" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-deps: installing ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
