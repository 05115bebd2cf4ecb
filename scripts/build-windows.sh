#!/usr/bin/env bash
# Builds the Windows agent, bin/windows-amd64/vigil-agent.exe (or $1): cgo
# with mingw-w64 against a static PortAudio (scripts/portaudio-windows.sh),
# linked statically so that it imports system DLLs only, which it checks.
# VIGIL_LDFLAGS adds linker flags (make packages: the version).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bin/windows-amd64/vigil-agent.exe}"
GO="${GO:-go}"

pcdir=$(./scripts/portaudio-windows.sh)
mkdir -p "$(dirname "$out")"
# PKG_CONFIG_LIBDIR, not _PATH: the host's (Linux) portaudio-2.0.pc must
# not be found at all.
PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH="" GOOS=windows GOARCH=amd64 CGO_ENABLED=1 \
  CC=x86_64-w64-mingw32-gcc CXX=x86_64-w64-mingw32-g++ \
  "$GO" build -trimpath -ldflags "${VIGIL_LDFLAGS:-} -extldflags \"-static\"" -o "$out" ./cmd/vigil-agent

# Only DLLs every Windows has: a mingw runtime DLL (libwinpthread,
# libgcc_s) here would make the .exe fail to start on a clean machine.
allowed='^(kernel32|user32|advapi32|winmm|msvcrt|ole32|ws2_32|ntdll|setupapi|shell32|bcryptprimitives|bcrypt|crypt32|iphlpapi|dnsapi|userenv|secur32|powrprof|winmm|wtsapi32|netapi32|mswsock|psapi|version|oleaut32|gdi32|comdlg32|api-ms-win-.*)\.dll$'
bad=$(x86_64-w64-mingw32-objdump -p "$out" | sed -n 's/^\s*DLL Name: //p' | tr 'A-Z' 'a-z' | grep -Ev "$allowed" || true)
if [ -n "$bad" ]; then
  echo "build-windows: $out imports non-system DLLs: $bad" >&2
  exit 1
fi
echo "$out"
