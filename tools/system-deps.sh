#!/usr/bin/env bash
# The Debian libraries gmsh's pip wheel links against (gmsh meshes lithmap's finite-element stress
# domains; it needs them even without a display). Installs what is missing with apt-get when it can.
set -euo pipefail
need=()
for pair in libGLU.so.1:libglu1-mesa libXcursor.so.1:libxcursor1 libXft.so.2:libxft2 \
            libXinerama.so.1:libxinerama1 libfontconfig.so.1:libfontconfig1 libX11.so.6:libx11-6; do
  lib=${pair%%:*}; pkg=${pair##*:}
  ldconfig -p 2>/dev/null | grep -q "$lib" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system libraries for gmsh: ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "error: missing ${need[*]} (apt-get install them as root)" >&2; exit 1; fi
$sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
