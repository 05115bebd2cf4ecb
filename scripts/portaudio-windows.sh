#!/usr/bin/env bash
# Builds PortAudio for Windows (x86-64, MME host API) from Debian's
# portaudio19 source package with mingw-w64, into a cache outside the
# repository, and prints the directory holding its portaudio-2.0.pc (for
# PKG_CONFIG_LIBDIR). Nothing is done when the library is already built.
# The Debian source keeps the build on the same PortAudio version as the
# Linux agent and needs no network beyond the Debian mirror.
#
#   VIGIL_CACHE   cache root (default ~/.cache/vigil)
#
# Needs: gcc-mingw-w64-x86-64 cmake dpkg-dev (scripts/deps.sh) and root or
# sudo the first time, to enable deb-src.
set -euo pipefail

cache="${VIGIL_CACHE:-$HOME/.cache/vigil}/portaudio-windows"
prefix="$cache/install"
lib="$prefix/lib/libportaudio_static.a"
pcdir="$prefix/lib/pkgconfig"

if [ -f "$lib" ] && [ -f "$pcdir/portaudio-2.0.pc" ]; then
  echo "$pcdir"
  exit 0
fi

log() { echo "portaudio-windows: $*" >&2; }
sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi

# apt-get source needs deb-src entries; add them only when there are none.
if ! apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -q '^Sources$'; then
  sources=/etc/apt/sources.list.d/debian.sources
  if [ -f "$sources" ] && ! grep -q '^Types:.*deb-src' "$sources"; then
    log "enabling deb-src in $sources"
    $sudo sed -i 's/^Types: deb$/Types: deb deb-src/' "$sources"
  elif [ -f /etc/apt/sources.list ] && ! grep -q '^deb-src' /etc/apt/sources.list; then
    log "enabling deb-src in /etc/apt/sources.list"
    $sudo sed -i -e 'p' -e 's/^deb /deb-src /' -e 't' -e 'd' /etc/apt/sources.list
  fi
  $sudo apt-get update -qq
fi

mkdir -p "$cache/src"
src=$(find "$cache/src" -maxdepth 1 -type d -name 'portaudio19-*' | head -n1)
if [ -z "$src" ]; then
  log "fetching the portaudio19 source package"
  # As root apt warns that _apt cannot write here; the download still works.
  (cd "$cache/src" && apt-get source portaudio19 >&2)
  src=$(find "$cache/src" -maxdepth 1 -type d -name 'portaudio19-*' | head -n1)
fi
[ -n "$src" ] || { log "no portaudio19-* directory after apt-get source"; exit 1; }

cat >"$cache/mingw64.cmake" <<'EOF'
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
EOF

log "building $(basename "$src") with mingw-w64 (MME)"
rm -rf "$cache/build"
# MME only: it is what Wine and every Windows since NT has; DirectSound,
# WDM-KS, WASAPI and ASIO need headers or SDKs mingw's CMake setup here
# does not find, and MME's "Sound Mapper" follows the default microphone.
cmake -S "$src" -B "$cache/build" -DCMAKE_TOOLCHAIN_FILE="$cache/mingw64.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DPA_USE_ASIO=OFF -DPA_USE_DS=OFF -DPA_USE_WDMKS=OFF \
  -DPA_USE_WDMKS_DEVICE_INFO=OFF -DPA_USE_WMME=ON -DPA_USE_WASAPI=OFF \
  >"$cache/cmake.log" 2>&1 || { tail -30 "$cache/cmake.log" >&2; exit 1; }
cmake --build "$cache/build" --target portaudio_static -j2 >"$cache/build.log" 2>&1 || { tail -30 "$cache/build.log" >&2; exit 1; }

mkdir -p "$prefix/lib" "$prefix/include" "$pcdir"
cp "$src/include/portaudio.h" "$prefix/include/"
cp "$(find "$cache/build" -name 'libportaudio_static.a' | head -n1)" "$lib.tmp"
version=$(sed -n 's/^Version: *//p' "$src/debian/control" 2>/dev/null | head -n1)
cat >"$pcdir/portaudio-2.0.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: PortAudio
Description: Portable audio I/O (Windows, MME, static; built by scripts/portaudio-windows.sh)
Version: ${version:-19.6.0}
Libs: -L\${libdir} -l:libportaudio_static.a -lwinmm -lole32 -luuid -lsetupapi
Cflags: -I\${includedir} -DPA_USE_WMME=1
EOF
mv "$lib.tmp" "$lib" # last: its presence means the build is complete
log "built $lib"
echo "$pcdir"
