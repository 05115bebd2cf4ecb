package main

import svcmgr "github.com/kardianos/service"

// platformOptions: without systemd (SysV init) nothing restarts a service
// that dies, so our init script runs it in a respawn loop (5 s between
// runs) in its own process group, which stop signals as a whole.
func platformOptions(kv svcmgr.KeyValue) {
	if svcmgr.ChosenSystem() != nil && svcmgr.ChosenSystem().String() == "unix-systemv" {
		kv["SysvScript"] = sysvScript
	}
}

const sysvScript = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          {{Path}}
# Required-Start:    $remote_fs $network
# Required-Stop:     $remote_fs $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {{DisplayName}}
# Description:       {{Description}}
### END INIT INFO

cmd="{{Path}}{{range Arguments}} {{. | cmd}}{{end}}"

name=$(basename $(readlink -f $0))
pid_file="/var/run/$name.pid"
stdout_log="{{LogDirectory}}/$name.log"
stderr_log="{{LogDirectory}}/$name.err"

{{range EnvVars}}{{.}}
{{end}}
[ -e /etc/sysconfig/$name ] && . /etc/sysconfig/$name

get_pid() {
    cat "$pid_file"
}

is_running() {
    [ -f "$pid_file" ] && cat /proc/$(get_pid)/stat > /dev/null 2>&1
}

group_alive() {
    [ -f "$pid_file" ] && kill -0 -$(get_pid) 2> /dev/null
}

case "$1" in
    start)
        if is_running; then
            echo "Already started"
        else
            echo "Starting $name"
            {{if WorkingDirectory}}cd '{{WorkingDirectory}}'{{end}}
            # Respawn: the service exits non-zero only on a fatal error.
            setsid "$0" respawn < /dev/null > /dev/null 2>&1 &
            echo $! > "$pid_file"
            if ! is_running; then
                echo "Unable to start, see $stdout_log and $stderr_log"
                exit 1
            fi
        fi
    ;;
    stop)
        if is_running; then
            echo -n "Stopping $name.."
            kill -TERM -$(get_pid) 2> /dev/null
            for i in $(seq 1 20)
            do
                if ! group_alive; then
                    break
                fi
                echo -n "."
                sleep 0.5
            done
            echo
            if group_alive; then
                echo "Not stopped; may still be shutting down or shutdown may have failed"
                exit 1
            else
                echo "Stopped"
                rm -f "$pid_file"
            fi
        else
            echo "Not running"
        fi
    ;;
    respawn)
        # Runs in its own process group (setsid), which stop signals.
        while :; do
            $cmd >> "$stdout_log" 2>> "$stderr_log"
            sleep 5
        done
    ;;
    restart)
        $0 stop
        if is_running; then
            echo "Unable to stop, will not attempt to start"
            exit 1
        fi
        $0 start
    ;;
    status)
        if is_running; then
            echo "Running"
        else
            echo "Stopped"
            exit 1
        fi
    ;;
    *)
    echo "Usage: $0 {start|stop|restart|status}"
    exit 1
    ;;
esac
exit 0
`
