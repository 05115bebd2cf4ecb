#!/bin/sh
# vigil-agent package, before removing (deb prerm, rpm %preun): remove
# stops and unregisters the service and keeps the config and the device
# token (purge deletes them: postrm); an upgrade leaves the service running
# and the new version's postinst restarts it once.
set -e

case "$1" in
remove | deconfigure | 0) ;;
*) exit 0 ;; # upgrade, failed-upgrade, rpm 1 (upgrade)
esac

case "$(vigil-agent status 2>/dev/null || true)" in
running | stopped)
	vigil-agent uninstall --keep-state || echo "vigil-agent: WARNING: unregistering the service failed (above)"
	;;
esac
exit 0
