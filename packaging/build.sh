#!/usr/bin/env bash
# Build the standalone bundle and the Debian package from a clean checkout (Linux):
#   bash packaging/build.sh                  -> dist/siffviewer/ and dist/siffviewer_<version>_<arch>.deb
#   bash packaging/build.sh --dist D --work W --no-setup --no-deb
# --dist D     where the bundle and the .deb go (default: dist/)
# --work W     PyInstaller's and the package's scratch folder (default: build/)
# --no-setup   skip installing build dependencies (Debian packages, PyInstaller)
# --no-deb     only the bundle
# It installs what it needs first (packaging/dev.sh setup, then PyInstaller from pyproject's
# `packaging` extra and the desktop tools), so it runs on a fresh Debian/Ubuntu machine.
# Windows and macOS build the same spec; see packaging/README.md.
set -euo pipefail
umask 022
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIST="$ROOT/dist"
WORK="$ROOT/build"
SETUP=1
DEB=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dist) DIST="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    --work) WORK="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    --no-setup) SETUP=0; shift ;;
    --no-deb) DEB=0; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
PY="$ROOT/.venv/bin/python"
say() { printf '[build.sh] %s\n' "$*" >&2; }
START=$(date +%s)

# ------------------------------------------------------------------ build dependencies
# Debian packages beyond dev.sh's: the desktop/MIME tools used to validate the package
# and by the smoke test (xdg-utils), binutils for PyInstaller and the Depends scan, and the
# Wayland client libraries Qt's wayland plugin links (so the scan finds their packages).
BUILD_APT=(binutils desktop-file-utils shared-mime-info xdg-utils libwayland-cursor0 libwayland-egl1)
if [ "$SETUP" = 1 ]; then
  bash "$ROOT/packaging/dev.sh" setup
  missing=()
  for p in "${BUILD_APT[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    say "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! "$PY" -c 'import PyInstaller' 2>/dev/null; then
    # the requirement as pyproject's `packaging` extra states it
    req="$("$PY" - <<'EOF'
import re, tomllib
extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["packaging"]
print(next(r for r in extra if re.match(r"pyinstaller\b", r, re.I)))
EOF
)"
    say "installing $req"
    "$PY" -m pip install -q "$req"
  fi
fi

read -r NAME VERSION < <("$PY" - <<'EOF'
from importlib.metadata import metadata
md = metadata("siffviewer")
print(md["Name"], md["Version"])
EOF
)
BUNDLE="$DIST/$NAME"

# ------------------------------------------------------------------ the bundle
say "PyInstaller: $NAME $VERSION -> $BUNDLE"
T0=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$WORK/pyinstaller" packaging/siffviewer.spec
say "bundle built in $(( $(date +%s) - T0 )) s"
# a broken bundle must not be packaged: Qt, fonts, C core, sample (about 1 s)
CHECK="$WORK/bundle-check.json"
if ! env -u DISPLAY -u WAYLAND_DISPLAY QT_QPA_PLATFORM=offscreen "$BUNDLE/$NAME" --bundle-check "$CHECK"; then
  say "bundle check failed:"; cat "$CHECK" >&2; exit 1
fi
"$BUNDLE/siff" --version >/dev/null
BUNDLE_SIZE=$(du -sh "$BUNDLE" | cut -f1)
say "bundle: $BUNDLE ($BUNDLE_SIZE)"
[ "$DEB" = 1 ] || { say "done in $(( $(date +%s) - START )) s"; exit 0; }

# ------------------------------------------------------------------ the .deb
ARCH="$(dpkg --print-architecture)"
PKG="$WORK/deb/${NAME}_${VERSION}_${ARCH}"
DEBFILE="$DIST/${NAME}_${VERSION}_${ARCH}.deb"
rm -rf "$PKG"
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" \
  "$PKG/usr/share/icons/hicolor/256x256/apps" "$PKG/usr/share/icons/hicolor/256x256/mimetypes" \
  "$PKG/usr/share/mime/packages" "$PKG/usr/share/doc/$NAME"
cp -a "$BUNDLE" "$PKG/opt/$NAME"
ln -s "/opt/$NAME/$NAME" "$PKG/usr/bin/$NAME"
ln -s "/opt/$NAME/siff" "$PKG/usr/bin/siff"
install -m644 siffviewer/data/siffviewer.desktop "$PKG/usr/share/applications/$NAME.desktop"
install -m644 siffviewer/data/siffviewer.png "$PKG/usr/share/icons/hicolor/256x256/apps/$NAME.png"
install -m644 siffviewer/data/siffviewer.png "$PKG/usr/share/icons/hicolor/256x256/mimetypes/application-x-siff.png"
install -m644 siffviewer/data/siffviewer-mime.xml "$PKG/usr/share/mime/packages/$NAME.xml"
cat > "$PKG/usr/share/doc/$NAME/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $NAME
Comment: The program in /opt/$NAME bundles Python, Qt 6 (LGPL-3), PyQt6 (GPL-3),
 pyqtgraph (MIT), NumPy and SciPy (BSD-3-Clause) and OpenBLAS (BSD-3-Clause);
 their licence files are in the installed Python packages' metadata where shipped.

Files: *
License: MIT
EOF
chmod -R u+rwX,go+rX,go-w "$PKG"
desktop-file-validate "$PKG/usr/share/applications/$NAME.desktop"

# Depends: what the bundle links but does not carry (PyInstaller leaves out libc, libGL,
# libEGL, libxcb...), mapped to the Debian packages providing it here, plus what is used
# without linking: fonts and the font configuration, the MIME and desktop databases.
declare -A SEEN=()
declare -A PKGS=([libgl1]=1 [libegl1]=1 [libfontconfig1]=1 [fonts-dejavu-core]=1
                 [shared-mime-info]=1 [desktop-file-utils]=1)
GLIBC="2.17"
LDCACHE="$(ldconfig -p)"
BUNDLED="$(find "$BUNDLE" -printf '%f\n' | sort -u)"
while IFS= read -r -d '' f; do
  needed="$(objdump -p "$f" 2>/dev/null | awk '/NEEDED/{print $2}')" || true
  [ -n "$needed" ] || continue  # not an ELF file, or links nothing
  for lib in $needed; do
    [ -n "${SEEN[$lib]:-}" ] && continue
    SEEN[$lib]=1
    grep -qxF "$lib" <<<"$BUNDLED" && continue
    path="$(awk -v l="$lib" '$1 == l && /x86-64|x86_64|AArch64/ {print $NF; exit}' <<<"$LDCACHE")"
    [ -n "$path" ] || path="$(awk -v l="$lib" '$1 == l {print $NF; exit}' <<<"$LDCACHE")"
    [ -n "$path" ] || { say "warning: $lib (needed by ${f#"$BUNDLE"/}) is not installed here"; continue; }
    owner="$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true)"
    owner="${owner%%:*}"
    [ -n "$owner" ] && PKGS[$owner]=1
  done
  v="$(objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)" || true
  [ -n "$v" ] && GLIBC="$(printf '%s\n%s\n' "$GLIBC" "$v" | sort -V | tail -n1)"
done < <(find "$BUNDLE" -type f -print0)
unset 'PKGS[libc6]'
mapfile -t SORTED < <(printf '%s\n' "${!PKGS[@]}" | sort)
DEPENDS="libc6 (>= $GLIBC)$(printf ', %s' "${SORTED[@]}")"

cat > "$PKG/DEBIAN/control" <<EOF
Package: $NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: ${DEB_MAINTAINER:-siffviewer developers <siffviewer@localhost>}
Installed-Size: $(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
Depends: $DEPENDS
Section: science
Priority: optional
Description: viewer for ScanImage-FLIM .siff microscopy recordings
 siffviewer opens ScanImage-FLIM (.siff) and ScanImage .tiff files at once:
 timepoints, planes and colour channels, every ScanImage setting, motion
 correction, fluorescence lifetimes and ROI traces. The package also installs
 the "siff" command-line tool (file info, TIFF export, trace export), a menu
 entry and the application/x-siff file type, so .siff files open in the app.
 A self-contained build: Python, Qt and the libraries live in /opt/$NAME.
EOF
# No maintainer scripts: dpkg triggers of shared-mime-info (update-mime-database),
# desktop-file-utils (update-desktop-database -> mimeinfo.cache, which xdg-mime reads for
# the default application) and the icon cache run on install and on removal.
dpkg-deb -Zzstd --root-owner-group --build "$PKG" "$DEBFILE" >/dev/null
say "package: $DEBFILE ($(du -h "$DEBFILE" | cut -f1), installed $(du -sh --exclude=DEBIAN "$PKG" | cut -f1))"
say "Depends: $DEPENDS"
say "done in $(( $(date +%s) - START )) s: bundle $BUNDLE_SIZE"
