#!/bin/sh
# vigil-agent package, after unpacking (deb postinst configure, rpm %post).
#
# Fresh install: with the coordinator's URL and an enrollment token from
# the install's environment (VIGIL_COORDINATOR, VIGIL_ENROLL_TOKEN, and any
# other VIGIL_* setting of `vigil-agent install`) or from
# /etc/default/vigil-agent (RPM: /etc/sysconfig/vigil-agent), it writes
# /etc/vigil/agent.conf, enrolls, registers and starts the service;
# without them it says what to run. Upgrade: keeps the config and the
# device token and restarts the service once.
set -e

case "$1" in
configure) upgrade=${2:+yes} ;; # deb: $2 is the version being replaced
1) upgrade= ;;                  # rpm: first install
[2-9]*) upgrade=yes ;;          # rpm: upgrade
*) exit 0 ;;                    # abort-upgrade, abort-remove, ...
esac

conf=/etc/vigil/agent.conf
say() { echo "vigil-agent: $*"; }

systemd=
if [ -d /run/systemd/system ]; then
	systemd=yes
	systemctl daemon-reload || true
else
	say "systemd is not running here: the service is registered with SysV init (/etc/init.d/vigil-agent) instead of the package's systemd unit"
fi

configured() { grep -Eq '^[[:space:]]*coordinator[[:space:]]*=' "$conf" 2>/dev/null; }

if [ -n "$upgrade" ] && configured; then
	case "$(vigil-agent status 2>/dev/null || true)" in
	running | stopped)
		say "restarting the service on the new version"
		vigil-agent restart || say "WARNING: restarting the service failed; see 'vigil-agent status'"
		;;
	esac
	exit 0
fi

if configured; then
	# Installed again after a remove, which kept the config and device token.
	say "using the settings kept in $conf"
	vigil-agent install --keep-config
	vigil-agent start || say "WARNING: starting the service failed; see /var/log/vigil-agent.err or the journal"
	exit 0
fi

# The settings: the install's environment wins over the defaults file.
saved=$(export -p | grep -E '^(export|declare -x) VIGIL_' || true)
for f in /etc/default/vigil-agent /etc/sysconfig/vigil-agent; do
	if [ -r "$f" ]; then
		set -a
		. "$f"
		set +a
	fi
done
eval "$saved"

if [ -z "${VIGIL_COORDINATOR:-}" ] || [ -z "${VIGIL_ENROLL_TOKEN:-}" ]; then
	cat <<MSG
vigil-agent: installed, not configured: no VIGIL_COORDINATOR and VIGIL_ENROLL_TOKEN
in the environment or in /etc/default/vigil-agent (RPM: /etc/sysconfig/vigil-agent).
Next, as root:
    VIGIL_ENROLL_TOKEN=<token> vigil-agent install --coordinator https://<coordinator>
    vigil-agent start
MSG
	exit 0
fi
export VIGIL_COORDINATOR VIGIL_ENROLL_TOKEN

vigil-agent install
if ! vigil-agent enroll --state-dir "${VIGIL_STATE_DIR:-/var/lib/vigil}"; then
	say "WARNING: enrolling with $VIGIL_COORDINATOR failed (above); the service keeps trying with the token in $conf"
fi
vigil-agent start || say "WARNING: starting the service failed; see /var/log/vigil-agent.err or the journal"
say "$(vigil-agent status 2>&1 || true)"
exit 0
