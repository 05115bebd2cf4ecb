#!/bin/sh
# vigil-coordinator package, before unpacking (deb preinst, rpm %pre): the
# vigil system user and group the coordinator runs as (kept on purge, like
# most system users: files elsewhere may still be theirs).
set -e

case "$1" in
install | upgrade | 1 | [2-9]*) ;;
*) exit 0 ;;
esac

if ! getent group vigil >/dev/null; then
	groupadd --system vigil
fi
if ! getent passwd vigil >/dev/null; then
	useradd --system --gid vigil --home-dir /var/lib/vigil --no-create-home \
		--shell /usr/sbin/nologin --comment "Vigil coordinator" vigil
fi
exit 0
