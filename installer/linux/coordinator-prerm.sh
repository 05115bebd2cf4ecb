#!/bin/sh
# vigil-coordinator package, before removing (deb prerm, rpm %preun): stop
# the service on remove; an upgrade leaves it to the new postinst.
set -e

case "$1" in
remove | deconfigure | 0) ;;
*) exit 0 ;;
esac

name=vigil-coordinator
if [ -d /run/systemd/system ]; then
	systemctl disable --now $name.service || true
elif [ -x /etc/init.d/$name ]; then
	/etc/init.d/$name stop || true
fi
exit 0
