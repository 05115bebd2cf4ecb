#!/bin/sh
# vigil-coordinator package, after removing (deb postrm, rpm %postun).
# Remove keeps the data; purge (deb only) deletes it: everything the
# coordinator keeps in /var/lib/vigil (an agent's device.json, if the agent
# is installed on this machine too, stays), its SysV log and registration.
set -e

name=vigil-coordinator
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi

case "$1" in
purge)
	if [ -d /var/lib/vigil ]; then
		find /var/lib/vigil -mindepth 1 -maxdepth 1 ! -name 'device.json' -exec rm -rf {} +
		rmdir /var/lib/vigil 2>/dev/null || true
	fi
	rm -f /var/log/$name.log /run/$name.pid
	if command -v update-rc.d >/dev/null; then
		update-rc.d $name remove >/dev/null || true
	fi
	rmdir /etc/vigil 2>/dev/null || true
	;;
esac
exit 0
