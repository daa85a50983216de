#!/bin/sh
# Creates the random secrets of the compose demo in deploy/compose/secrets/:
#
#   postgres-password   PostgreSQL password of the civicgate user
#   database-dsn        the gateway's DSN, with that password
#   redis-password      Redis requirepass
#   audit-hmac-key      32 random bytes that pseudonymise personnummer in the audit log
#
# Existing files are kept (rerunning is safe): a new audit key would make
# citizens' existing audit entries unfindable, and new database or Redis
# passwords would not match the data already in the volumes. Use --force to
# replace them all, together with `docker compose down -v` (which deletes
# the demo's data).
#
# The directory is private to you (0700); the files in it are 0644 because
# compose bind-mounts them unchanged into containers that run as other users
# (civicgate 65532, redis and postgres 999).
set -eu

dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)/secrets
force=false
case "${1:-}" in
--force) force=true ;;
"") ;;
*) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

umask 077
mkdir -p "$dir"
chmod 700 "$dir"

# Hex only: the password goes into a URL and a Redis config line unquoted.
random_hex() {
	if command -v openssl >/dev/null 2>&1; then
		openssl rand -hex "$1"
	else
		head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'
		echo
	fi
}

write() { # name, then the content on stdin
	if [ -e "$dir/$1" ] && [ "$force" = false ]; then
		echo "kept    $dir/$1"
		cat >/dev/null
		return
	fi
	cat >"$dir/$1.tmp"
	chmod 644 "$dir/$1.tmp"
	mv "$dir/$1.tmp" "$dir/$1"
	echo "created $dir/$1"
}

if [ ! -e "$dir/postgres-password" ] || [ "$force" = true ]; then
	# A new password needs a new DSN.
	rm -f "$dir/database-dsn"
fi
random_hex 24 | write postgres-password
pw=$(cat "$dir/postgres-password")
printf 'postgres://civicgate:%s@postgres:5432/civicgate?sslmode=disable\n' "$pw" | write database-dsn
random_hex 24 | write redis-password
head -c 32 /dev/urandom | write audit-hmac-key
