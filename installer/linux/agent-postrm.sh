#!/bin/sh
# vigil-agent package, after removing (deb postrm, rpm %postun). Purge
# (deb only: rpm has none, see docs/deploy.md) deletes what the agent made:
# the device token and its directory, the config, the SysV logs.
set -e

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi

case "$1" in
purge)
	rm -f /var/lib/vigil/device.json /var/lib/vigil/device.json.*
	rmdir /var/lib/vigil 2>/dev/null || true # the coordinator's data may share it
	rm -f /etc/vigil/agent.conf /etc/vigil/agent.conf.tmp
	rmdir /etc/vigil 2>/dev/null || true
	rm -f /var/log/vigil-agent.log /var/log/vigil-agent.err
	;;
esac
exit 0
