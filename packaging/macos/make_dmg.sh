#!/usr/bin/env bash
# macOS disk image of the app bundle: dist/siffviewer.app -> dist/siffviewer-<version>.dmg
#   .venv/bin/python -m PyInstaller --noconfirm --clean packaging/siffviewer.spec
#   bash packaging/macos/make_dmg.sh
# The image holds siffviewer.app and a link to /Applications (drag to install). The app
# declares the .siff document type (Info.plist, set in packaging/siffviewer.spec), so
# Finder opens .siff files with it once it is in /Applications. The command-line tool is
# siffviewer.app/Contents/MacOS/siff. Not signed with a Developer ID nor notarized: see
# packaging/README.md ("macOS") for the Gatekeeper prompt and how to sign.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
[ -x "$ROOT/.venv/bin/python" ] && PY="$ROOT/.venv/bin/python"
VERSION="$("$PY" -c 'import libsiff; print(libsiff.__version__)')"
APP="dist/siffviewer.app"
DMG="dist/siffviewer-$VERSION.dmg"
[ -d "$APP" ] || { echo "make_dmg.sh: $APP is missing: run PyInstaller on packaging/siffviewer.spec first" >&2; exit 1; }
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "siffviewer $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
hdiutil verify "$DMG"
echo "$DMG ($(du -h "$DMG" | cut -f1))"
