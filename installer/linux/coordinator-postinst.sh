#!/bin/sh
# vigil-coordinator package, after unpacking (deb postinst configure, rpm
# %post): its data directory, then the service started (fresh install) or
# restarted once (upgrade). Settings: /etc/default/vigil-coordinator (RPM:
# /etc/sysconfig/vigil-coordinator).
set -e

case "$1" in
configure) upgrade=${2:+yes} ;;
1) upgrade= ;;
[2-9]*) upgrade=yes ;;
*) exit 0 ;;
esac

name=vigil-coordinator
say() { echo "$name: $*"; }

# The database and first-start credentials; 0700, the vigil user's only.
install -d -o vigil -g vigil -m 0700 /var/lib/vigil
chown vigil:vigil /var/lib/vigil/vigil.db* /var/lib/vigil/*.token /var/lib/vigil/admin.password 2>/dev/null || true

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if [ -n "$upgrade" ]; then
		systemctl try-restart $name.service || say "WARNING: restarting failed; see journalctl -u $name"
	else
		systemctl enable --now $name.service || say "WARNING: starting failed; see journalctl -u $name"
	fi
elif [ -x /etc/init.d/$name ]; then
	say "systemd is not running here: using the SysV init script /etc/init.d/$name"
	if [ -n "$upgrade" ]; then
		if /etc/init.d/$name status >/dev/null 2>&1; then
			/etc/init.d/$name restart || say "WARNING: restarting failed; see /var/log/$name.log"
		fi
	else
		if command -v update-rc.d >/dev/null; then
			update-rc.d $name defaults >/dev/null
		elif command -v chkconfig >/dev/null; then
			chkconfig --add $name
		fi
		/etc/init.d/$name start || say "WARNING: starting failed; see /var/log/$name.log"
	fi
else
	say "systemd is not running and there is no SysV init script: not started. Run it yourself as user vigil: VIGIL_DATA_DIR=/var/lib/vigil /usr/bin/$name"
fi

if [ -z "$upgrade" ]; then
	say "the first start writes the admin token, a first enrollment token and the admin password to /var/lib/vigil (admin.token, enrollment.token, admin.password); settings: /etc/default/$name (RPM: /etc/sysconfig/$name)"
fi
exit 0
