#!/usr/bin/env bash
# The Debian libraries that napari's Qt and vispy load to open lithmap's viewer on Qt's offscreen
# platform (QT_QPA_PLATFORM=offscreen: tests, no display), found by running tests/test_viewer.py and
# listing the system libraries the process had loaded (/proc/self/maps): PyQt5 (Qt 5.15) loads libGL,
# libOpenGL, GLib, fontconfig/freetype, libX11 and libXext; PyQt6 (Qt 6) also libEGL, libxkbcommon and
# libdbus. A desktop has them already; a window on X11 needs Qt's xcb libraries as well (libxcb-icccm4,
# libxcb-keysyms1, libxcb-xinerama0, ...). Installs what is missing with apt-get when it can.
set -euo pipefail
need=()
for pair in libGL.so.1:libgl1 libOpenGL.so.0:libopengl0 libglib-2.0.so.0:libglib2.0-0 \
            libgthread-2.0.so.0:libglib2.0-0 libfontconfig.so.1:libfontconfig1 libfreetype.so.6:libfreetype6 \
            libX11.so.6:libx11-6 libXext.so.6:libxext6 \
            libEGL.so.1:libegl1 libxkbcommon.so.0:libxkbcommon0 libdbus-1.so.3:libdbus-1-3; do
  lib=${pair%%:*}; pkg=${pair##*:}
  if ! ldconfig -p 2>/dev/null | grep -q "$lib"; then
    case " ${need[*]-} " in *" $pkg "*) ;; *) need+=("$pkg") ;; esac
  fi
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system libraries for the napari viewer (Qt offscreen): ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "error: missing ${need[*]} (apt-get install them as root)" >&2; exit 1; fi
$sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
