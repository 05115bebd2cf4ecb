#!/usr/bin/env bash
# Installs what the tests and builds need on a fresh Debian/Ubuntu machine:
# Debian packages (only those missing) and the Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # cgo builds: robotgo (X11, XTest) and PortAudio
  libx11-dev libxtst-dev libpng-dev portaudio19-dev pkg-config
  # the X display rig: Xvfb, a window manager, XTEST input, X tools
  xvfb openbox xdotool x11-utils xprintidle
  # the microphone rig: a private PulseAudio with a null sink, speech fixtures
  pulseaudio pulseaudio-utils espeak-ng sox alsa-utils libasound2-plugins
  # browser tests
  chromium
  # desktop notifications: a private session bus (dbus-daemon) in tests
  dbus
  # the PostgreSQL store's tests: each test package starts a private server
  # (internal/pgtest), never a system one
  postgresql
  # scripts/run.sh (`make run`) talks to the API with these
  curl jq
  # the Windows agent (`make windows`): mingw-w64 for cgo and PortAudio
  # (scripts/portaudio-windows.sh, which needs dpkg-dev for apt-get source),
  # Wine to run it in tests, xterm as a native window beside Wine's
  gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 cmake dpkg-dev wine wine64 xterm
  # packages (`make packages`, installer/): the MSI (wixl, msibuild from
  # msitools), Authenticode signing, the .rpm tests (rpm)
  wixl msitools osslsigncode rpm
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "missing packages; run as root: apt-get install --no-install-recommends ${missing[*]}" >&2; exit 1
    fi
  fi
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
go mod download
