#!/usr/bin/env bash
# Runs Vigil on this machine: the coordinator on embedded defaults (SQLite
# in ./.run/data, the built-in controller, a short demo timeout), demo
# accounts and conversations, and vigil-agent for the desktop session. With
# no $DISPLAY it brings up a virtual workstation first: Xvfb + openbox,
# Chromium showing the reference Agent Desk signed in as the demo agent,
# and a PulseAudio null sink as the microphone. Ctrl-C stops everything it
# started, and nothing else.
#
# Settings (environment):
#   VIGIL_RUN_DIR      state directory                    (./.run)
#   VIGIL_RUN_PORT     the coordinator's port on 127.0.0.1 (8080)
#   VIGIL_RUN_TIMEOUT  the inactivity timeout T, seconds   (60; 30 to 3600)
#   VIGIL_RUN_SKIP_DEPS=1  do not check/install Debian packages
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

run_dir=${VIGIL_RUN_DIR:-$root/.run}
port=${VIGIL_RUN_PORT:-8080}
timeout=${VIGIL_RUN_TIMEOUT:-60}
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
data=$run_dir/data
logs=$run_dir/logs
mkdir -p "$data" "$logs"
base=http://127.0.0.1:$port

say() { printf 'vigil-run: %s\n' "$*"; }
die() { printf 'vigil-run: %s\n' "$*" >&2; exit 1; }

# ---- what we start, and stopping it ----
# Every process is started with setsid, so it leads its own process group
# (its children included); on exit each group gets SIGTERM, then SIGKILL.
pgids=()
tmpdirs=()
stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap '' INT TERM
  if [ ${#pgids[@]} -gt 0 ]; then
    say "stopping process groups ${pgids[*]}"
    local i
    for ((i=${#pgids[@]}-1; i>=0; i--)); do kill -TERM -- "-${pgids[i]}" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
      local alive=0
      for g in "${pgids[@]}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    for g in "${pgids[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  fi
  for d in "${tmpdirs[@]}"; do rm -rf "$d"; done
  rm -f "$run_dir/pgids"
  say "stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

# start NAME CMD...: runs CMD in a new session, output to logs/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" >"$logs/$name.log" 2>&1 < /dev/null &
  local pid=$!
  pgids+=("$pid")
  echo "$pid $name" >>"$run_dir/pgids"
  say "started $name (pid $pid, process group $pid)"
}

# wait_for SECONDS WHAT CMD...: polls CMD until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "timed out waiting for $what (logs in $logs)"
}

# ---- 1. what is missing, and the binaries ----
if [ "${VIGIL_RUN_SKIP_DEPS:-}" != 1 ]; then
  ./scripts/deps.sh
fi
command -v curl >/dev/null || die "curl is missing: apt-get install --no-install-recommends curl"
command -v jq >/dev/null || die "jq is missing: apt-get install --no-install-recommends jq"
say "building bin/vigil-coordinator and bin/vigil-agent"
mkdir -p bin
CGO_ENABLED=0 go build -o bin/ ./cmd/vigil-coordinator
go build -o bin/ ./cmd/vigil-agent

if curl -s -o /dev/null "$base/healthz"; then
  die "something already answers on $base; set VIGIL_RUN_PORT to another port"
fi
: >"$run_dir/pgids"

# ---- 2. the virtual workstation, when there is no display ----
virtual=0
if [ -z "${DISPLAY:-}" ]; then
  virtual=1
  say "no DISPLAY: starting a virtual workstation (Xvfb, openbox, PulseAudio)"
  rm -f "$run_dir/xvfb.display"
  start xvfb Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp -noreset 3>"$run_dir/xvfb.display"
  wait_for 20 "Xvfb" test -s "$run_dir/xvfb.display"
  export DISPLAY=":$(tr -d '[:space:]' <"$run_dir/xvfb.display")"
  unset WAYLAND_DISPLAY XAUTHORITY
  start openbox openbox
  wait_for 20 "openbox" xprop -root _NET_SUPPORTING_WM_CHECK

  # A private PulseAudio whose null sink's monitor is the microphone. Unix
  # socket paths are short, so its directory is under /tmp.
  pa=$(mktemp -d /tmp/vigil-run-pa.XXXXXX)
  tmpdirs+=("$pa")
  mkdir -p "$pa/xdg" "$pa/home"
  chmod 700 "$pa/xdg"
  export XDG_RUNTIME_DIR=$pa/xdg PULSE_RUNTIME_PATH=$pa/xdg/pulse PULSE_SERVER=unix:$pa/xdg/pulse/native
  HOME=$pa/home start pulseaudio pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit \
    --use-pid-file=no --system=false --realtime=false --high-priority=false --log-target=stderr \
    -L "module-native-protocol-unix socket=$pa/xdg/pulse/native auth-anonymous=1" \
    -L "module-null-sink sink_name=vigil_mic rate=16000 channels=1"
  wait_for 20 "PulseAudio" pactl info
  pactl set-default-sink vigil_mic >/dev/null
  pactl set-default-source vigil_mic.monitor >/dev/null
  say "microphone: PulseAudio null sink vigil_mic (play speech into it: PULSE_SERVER=$PULSE_SERVER paplay file.wav)"
  # No session bus: the agent logs its warning instead of a desktop
  # notification; the Agent Desk page shows it.
  export DBUS_SESSION_BUS_ADDRESS=disabled:
fi

# ---- 3. the coordinator ----
start coordinator bin/vigil-coordinator --listen "127.0.0.1:$port" --data-dir "$data"
wait_for 30 "the coordinator on $base" curl -sf "$base/healthz"
wait_for 10 "the admin token" test -s "$data/admin.token"
token=$(tr -d '[:space:]' <"$data/admin.token")
api() { # api METHOD PATH [JSON]
  local args=(-sS -f -X "$1" -H "Authorization: Bearer $token" "$base$2")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}"
}

# ---- 4. demo data, through the API ----
os_user=$(id -un)
demo=demo
demo_password_file=$run_dir/demo.password
[ -s "$demo_password_file" ] || { head -c 12 /dev/urandom | base64 | tr -d '/+=' >"$demo_password_file"; chmod 600 "$demo_password_file"; }
demo_password=$(cat "$demo_password_file")
api PUT /api/v1/settings "{\"inactivity_timeout\":{\"enabled\":true,\"seconds\":$timeout}}" >/dev/null
if ! api GET /api/v1/accounts | jq -e --arg n "$demo" 'any(.[]; .name == $n)' >/dev/null; then
  api POST /api/v1/accounts "$(jq -nc --arg n "$demo" --arg p "$demo_password" '{name:$n, role:"agent", password:$p}')" >/dev/null
fi
# This desktop session's OS user is the demo agent.
api PUT "/api/v1/mappings/$(jq -rn --arg u "$os_user" '$u|@uri')" "{\"desk_user\":\"$demo\"}" >/dev/null
# The demo agent first, with two chats; then two colleagues, each taking a
# voice call (on a call their clocks pause, and they stay available), so
# the demo agent's chats have somewhere to go when they are logged out.
api POST /api/v1/desk/login "{\"user\":\"$demo\"}" >/dev/null
open_chats=$(api GET "/api/v1/conversations?user=$demo&state=open" | jq length)
for c in $(seq "$((open_chats + 1))" 2); do
  api POST /api/v1/conversations "{\"channel\":\"chat\",\"customer\":\"Demo customer $c\"}" >/dev/null
done
for colleague in alex sam; do
  api POST /api/v1/desk/login "{\"user\":\"$colleague\"}" >/dev/null
  if [ "$(api GET "/api/v1/conversations?user=$colleague&state=open" | jq length)" = 0 ]; then
    id=$(api POST /api/v1/conversations "{\"channel\":\"voice\",\"customer\":\"Caller for $colleague\"}" | jq -r .id)
    api POST "/api/v1/conversations/$id/accept" >/dev/null || true
  fi
done
# The token leaves its device pending, as every token does unless it says
# auto_approve; this script approves its own device below.
enroll=$(api POST /api/v1/enrollment-tokens '{"max_uses":1,"note":"make run"}' | jq -r .token)

# ---- 5. the Agent Desk in Chromium (virtual workstation) ----
if [ "$virtual" = 1 ]; then
  mkdir -p "$run_dir/chromium/home" "$run_dir/chromium/profile/Default"
  # A clean screen for the demo: no "Save password?" bubble after the
  # sign-in, no "restore pages" bubble after a Ctrl-C, and --test-type keeps
  # the "unsupported command-line flag" infobar (for --no-sandbox) away.
  echo '{"credentials_enable_service":false,"profile":{"password_manager_enabled":false,"exit_type":"Normal","exited_cleanly":true}}' \
    >"$run_dir/chromium/profile/Default/Preferences"
  HOME=$run_dir/chromium/home TMPDIR=$run_dir/chromium/home start chromium chromium \
    --no-sandbox --test-type --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-default-apps --no-default-browser-check \
    --password-store=basic --user-data-dir="$run_dir/chromium/profile" --ozone-platform=x11 \
    --window-position=0,0 --window-size=1000,700 "$base/desk/"
  wait_for 60 "the Agent Desk window" xdotool search --name '^Agent Desk'
  win=$(xdotool search --name '^Agent Desk' | head -1)
  xdotool windowactivate --sync "$win" >/dev/null 2>&1 || true
  sleep 1
  # Sign in by typing, as the agent would (the name field has the focus);
  # then rest the pointer outside the window.
  xdotool type --delay 30 "$demo"; xdotool key Tab
  xdotool type --delay 30 "$demo_password"; xdotool key Return
  xdotool mousemove 1200 780
fi

# ---- 6. the agent ----
start agent bin/vigil-agent session --coordinator "ws://127.0.0.1:$port" --enroll-token "$enroll" \
  --state-dir "$run_dir/agent"
# A fresh agent enrolls and waits pending, as every device of a token
# without auto_approve does: approve it through the API, as an admin would
# on the Devices page (approving an approved device changes nothing).
wait_for 30 "the agent's enrollment" test -s "$run_dir/agent/device.json"
device_id=$(jq -r .device_id "$run_dir/agent/device.json")
api POST "/api/v1/devices/$device_id/approve" >/dev/null
say "approved this workstation's device $device_id"
wait_for 30 "the agent's first reading" sh -c "curl -sf -H 'Authorization: Bearer $token' $base/api/v1/users/$demo | jq -e '.sensor.status == \"live\"'"

cat <<EOM

Vigil is running (T = ${timeout} s: warning at $((timeout * 4 / 5)) s, logout at ${timeout} s without activity).

  Dashboard   $base/admin/dashboard     (sign in as admin)
  Settings    $base/admin/settings
  Audit       $base/admin/audit
  Agent Desk  $base/desk/               (demo agent: $demo / $(cat "$demo_password_file"))
  API         $base/api/v1/             (Authorization: Bearer <admin token>)

  admin token     $data/admin.token
  admin password  $data/admin.password  (web account "admin")
  demo password   $demo_password_file
  logs            $logs/
EOM
if [ "$virtual" = 1 ]; then
  echo "  display         $DISPLAY (virtual: Xvfb)"
  echo
  echo "The demo agent's Agent Desk is in front with nobody at it: watch the dashboard."
else
  echo
  echo "Sign in to the Agent Desk above as $demo in your browser, keep it in front, and stop typing."
fi
echo "Ctrl-C stops everything started here (process groups: ${pgids[*]})."
echo "vigil-run: ready"

# ---- 7. until Ctrl-C, or until something we started stops ----
while :; do
  for g in "${pgids[@]}"; do
    if ! kill -0 "$g" 2>/dev/null; then
      name=$(awk -v p="$g" '$1 == p {print $2}' "$run_dir/pgids" 2>/dev/null)
      say "$name (pid $g) stopped; see $logs/$name.log"
      exit 1
    fi
  done
  sleep 1
done
