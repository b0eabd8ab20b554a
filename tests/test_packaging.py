"""The installer smoke test (slow): build the bundle (and on Debian the .deb) from this
checkout, run the bundled executables offscreen, inspect the package, install it into a
scratch root, and on a root Debian host install it for real into a fresh debootstrap root.

Linux runs packaging/build.sh (bundle + .deb); Windows and macOS build the bundle with
the same spec (CI installs and launches their installers in .github/workflows/release.yml).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINUX, WINDOWS, MACOS = sys.platform.startswith("linux"), sys.platform == "win32", \
    sys.platform == "darwin"
EXE_SUFFIX = ".exe" if WINDOWS else ""
DEBIAN = LINUX and shutil.which("dpkg-deb") is not None

pytestmark = pytest.mark.slow


def project():
    from importlib.metadata import metadata

    md = metadata("siffviewer")
    return md["Name"], md["Version"]


NAME, VERSION = project()


# The Qt platform the smoke test runs on: offscreen on Linux (no display needed); the
# native one on Windows and macOS, whose CI runners have a desktop session.
QPA = "windows" if WINDOWS else "cocoa" if MACOS else "offscreen"


def offscreen_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM=QPA, **extra)
    return env


def _build_tools_present() -> bool:
    """PyInstaller and the desktop tools are there: build.sh may skip its setup step (which
    could reinstall the package under this very test session)."""
    import importlib.util

    tools = ("objdump", "desktop-file-validate", "update-mime-database", "xdg-mime")
    return importlib.util.find_spec("PyInstaller") is not None and all(map(shutil.which, tools))


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Build into a scratch folder, or use SIFF_PREBUILT_DIST (CI builds the release once,
    then runs this test on exactly what it ships)."""
    prebuilt = os.environ.get("SIFF_PREBUILT_DIST")
    out = tmp_path_factory.mktemp("release")
    dist, work = (Path(prebuilt).resolve() if prebuilt else out / "dist"), out / "work"
    start = time.monotonic()
    log = ""
    if not prebuilt:
        if DEBIAN:
            cmd = ["bash", str(ROOT / "packaging" / "build.sh"), "--dist", str(dist),
                   "--work", str(work)] + (["--no-setup"] if _build_tools_present() else [])
        else:
            cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level",
                   "WARN", "--distpath", str(dist), "--workpath", str(work),
                   str(ROOT / "packaging" / "siffviewer.spec")]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-6000:]
    seconds = time.monotonic() - start
    bundle = dist / NAME
    assert bundle.is_dir(), f"no bundle in {dist}"
    size = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file() and not f.is_symlink())
    deb = dist / f"{NAME}_{VERSION}_amd64.deb" if DEBIAN else None
    print(f"\nbuilt in {seconds:.0f} s: bundle {size / 1e6:.0f} MB"
          + (f", .deb {deb.stat().st_size / 1e6:.0f} MB" if deb else ""))
    return {"bundle": bundle, "deb": deb, "log": log, "seconds": seconds, "size": size,
            "dist": dist}


def run_exe(path, *args, timeout=120, **kw):
    return subprocess.run([str(path), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)


def bundle_check(exe, out: Path, env=None):
    proc = run_exe(exe, "--bundle-check", out, env=env or offscreen_env())
    assert out.is_file(), proc.stderr
    report = json.loads(out.read_text())
    assert proc.returncode == 0, report
    return report


# ------------------------------------------------------------------ the bundle

def test_bundle_contents(build):
    bundle = build["bundle"]
    internal = bundle / "_internal"
    for exe in (NAME, "siff"):
        assert (bundle / (exe + EXE_SUFFIX)).is_file()
    files = [p for p in bundle.rglob("*")]
    rel = sorted(p.relative_to(bundle).as_posix() for p in files)
    text = "\n".join(rel)
    # what must be in
    assert (internal / "resources" / "sample.siff").stat().st_size == \
        (ROOT / "siffviewer" / "data" / "sample.siff").stat().st_size
    assert (internal / "resources" / "siffviewer.png").is_file()
    assert re.search(r"^_internal/libsiff/_siff\.[^/]*(so|pyd)$", text, re.M)
    assert re.search(r"^_internal/_cffi_backend\.[^/]*(so|pyd)$", text, re.M)
    assert (internal / "libsiff" / "data" / "headers" / "seedlike_header.txt").is_file()
    assert (internal / "pyqtgraph").is_dir() and (internal / "scipy").is_dir()
    # compiled parts the exports need at run time: h5py (NWB) and ffmpeg (MP4); pure-Python
    # ones such as tifffile sit in the archive (the app imports it at start: the run test)
    for needed in ("h5py", "imageio_ffmpeg"):
        assert (internal / needed).is_dir(), needed
    assert re.search(r"/plugins/platforms/(libqxcb\.so|qwindows\.dll|libqcocoa\.dylib)$", text, re.M)
    assert re.search(r"/plugins/platforms/(lib)?qoffscreen\.(so|dll|dylib)$", text, re.M)
    # what must stay out: dev tools, unused Qt parts, build-machine files
    forbidden = [r"(^|/)tkinter/", r"_tkinter", r"(^|/)tcl\d", r"pyqtgraph/opengl/",
                 r"pyqtgraph/examples/", r"/translations/.*\.qm$", r"platformthemes/.*gtk",
                 r"(^|/)libgtk-3", r"(^|/)libgdk-3", r"(^|/)libcairo", r"(^|/)libpango",
                 r"(^|/)(pytest|_pytest|hypothesis|corrosiffpy|PyInstaller|setuptools)/",
                 r"make_sample\.py$", r"(^|/)tests?/conftest", r"\.c$", r"(?<!pyconfig)\.h$",
                 r"\.egg-info",
                 r"libqpdf", r"libQt6Pdf", r"libqeglfs", r"libqvnc", r"libqlinuxfb"]
    for pattern in forbidden:
        hits = [r for r in rel if re.search(pattern, r)]
        assert not hits, f"{pattern}: {hits[:5]}"
    dangling = [p for p in files if p.is_symlink() and not p.exists()]
    assert not dangling, dangling[:5]
    # 520 MB measured: 172 MB of it is the static ffmpeg that imageio-ffmpeg ships (MP4
    # export), plus HDF5/pandas (NWB) and dask; the limit catches growth beyond that
    assert build["size"] < 600e6, f"bundle grew to {build['size'] / 1e6:.0f} MB"


@pytest.mark.skipif(not LINUX, reason="Linux strips debug info; other platforms keep PDB/dSYM paths")
def test_bundle_has_no_build_machine_paths(build):
    """No file in the bundle names the checkout or its virtualenv (debug info, sources)."""
    root = str(ROOT).encode()
    needles = [root + b"\0"]  # e.g. DW_AT_comp_dir of a C extension's debug info
    needles += [root + os.sep.encode() + part for part in (b"libsiff", b"siffviewer", b"packaging")]
    needles.append(str(Path(sys.prefix).resolve()).encode())  # the virtualenv
    hits = []
    for path in build["bundle"].rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            hits += [f"{path.relative_to(build['bundle'])}: {n.decode()}" for n in needles if n in data]
    assert not hits, hits[:10]


def test_bundle_check_fonts_qt_and_c_core(build, tmp_path):
    report = bundle_check(build["bundle"] / (NAME + EXE_SUFFIX), tmp_path / "check.json")
    assert report["ok"] and report["frozen"]
    if MACOS:  # the .app that goes into the .dmg (files rearranged under Contents/)
        app = build["dist"] / f"{NAME}.app" / "Contents" / "MacOS" / NAME
        assert bundle_check(app, tmp_path / "app-check.json")["ok"]
    assert report["qt_platform"] == QPA
    assert report["font_families"] > 0 and report["glyphs"] == {"ink": True, "distinct": True}
    assert Path(report["sample"]).resolve().is_relative_to(build["bundle"].resolve())
    assert report["sample_frames"] == 320 and report["sample_photons_frame0"] > 0
    assert report["icon_size"] == [256, 256]


def check_screenshot(png: Path):
    """The PNG is the real window: full size, the frame drawn, text in the menu bar."""
    import numpy as np
    from PyQt6 import QtGui

    img = QtGui.QImage(str(png)).convertToFormat(QtGui.QImage.Format.Format_RGB32)
    assert not img.isNull(), png
    w, h = img.width(), img.height()
    assert w >= 1000 and h >= 700, (w, h)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    rgb = np.frombuffer(ptr, np.uint8).reshape(h, img.bytesPerLine() // 4, 4)[:, :w, :3]
    grey = rgb.mean(axis=2)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50  # not a blank or flat window
    menu = grey[2:20, :300]  # "File  Edit  View  Help" on a light bar
    assert (menu > 200).mean() > 0.5 and (menu < 100).sum() > 40
    view = grey[int(h * 0.05):int(h * 0.45), int(w * 0.15):int(w * 0.45)]  # the frame
    assert view.std() > 10 and 0.02 < (view > 40).mean() < 0.98


def test_bundle_runs_the_sample_offscreen(build, tmp_path):
    png = tmp_path / "shot.png"
    proc = run_exe(build["bundle"] / (NAME + EXE_SUFFIX), "--screenshot", png, "--timepoint", 5,
                   env=offscreen_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_screenshot(png)


def test_bundle_command_line_tool(build, tmp_path):
    siff = build["bundle"] / ("siff" + EXE_SUFFIX)
    sample = tmp_path / "s.siff"
    shutil.copy(ROOT / "siffviewer" / "data" / "sample.siff", sample)
    proc = run_exe(siff, "info", sample, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert (info["frames"], info["frame_shape"], info["bin_width_ps"]) == (320, [96, 112], 20)
    proc = run_exe(siff, "to-tiff", sample)
    assert proc.returncode == 0, proc.stderr
    import libsiff

    with libsiff.open_file(sample) as a, libsiff.open_file(sample.with_suffix(".tiff")) as b:
        assert (a.get_frames() == b.get_frames()).all()
    proc = run_exe(siff, "info", tmp_path / "missing.siff")
    assert proc.returncode == 2 and proc.stderr.startswith("siff: error: ")
    assert "Traceback" not in proc.stderr
    assert run_exe(siff, "--version").stdout.strip() == f"siff (libsiff {VERSION})"


# ------------------------------------------------------------------ the Debian package

needs_deb = pytest.mark.skipif(not DEBIAN, reason="Debian packaging tools (Linux) only")


def dpkg_field(deb, field):
    return subprocess.run(["dpkg-deb", "--field", str(deb), field], capture_output=True,
                          text=True, check=True).stdout.strip()


@needs_deb
def test_deb_metadata_and_contents(build):
    deb = build["deb"]
    assert deb.is_file()
    assert dpkg_field(deb, "Package") == NAME and dpkg_field(deb, "Version") == VERSION
    assert dpkg_field(deb, "Architecture") == "amd64"
    depends = [d.strip() for d in dpkg_field(deb, "Depends").split(",")]
    names = {d.split()[0] for d in depends}
    for required in ("libc6", "libgl1", "libegl1", "libfontconfig1", "fonts-dejavu-core",
                     "shared-mime-info", "desktop-file-utils", "libxcb1"):
        assert required in names, depends
    assert any(re.fullmatch(r"libc6 \(>= 2\.\d+\)", d) for d in depends)
    installed_kb = int(dpkg_field(deb, "Installed-Size"))
    assert abs(installed_kb * 1024 - build["size"]) < 0.1 * build["size"]
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True,
                          check=True).stdout
    assert not re.search(r"\b(preinst|postinst|prerm|postrm)\b", info)  # triggers do the work
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    entries = {}
    for line in listing:
        mode, owner, _size, _date, _time, path, *rest = line.split(None, 6)
        entries[path.removeprefix(".")] = (mode, owner, " ".join(rest))
    assert {owner for _, owner, _ in entries.values()} == {"root/root"}
    assert entries["/usr/bin/siffviewer"][2] == "-> /opt/siffviewer/siffviewer"
    assert entries["/usr/bin/siff"][2] == "-> /opt/siffviewer/siff"
    assert entries["/opt/siffviewer/siffviewer"][0] == "-rwxr-xr-x"
    for path in ("/usr/share/applications/siffviewer.desktop",
                 "/usr/share/icons/hicolor/256x256/apps/siffviewer.png",
                 "/usr/share/icons/hicolor/256x256/mimetypes/application-x-siff.png",
                 "/usr/share/mime/packages/siffviewer.xml",
                 "/opt/siffviewer/_internal/resources/sample.siff",
                 "/usr/share/doc/siffviewer/copyright"):
        assert entries[path][0] == "-rw-r--r--", path
    outside = [p for p in entries if not p.startswith(("/opt/siffviewer", "/usr/bin/siff",
                                                        "/usr/share/"))
               and p not in ("/", "/opt/", "/usr/", "/usr/bin/")]
    assert not outside, outside
    assert not any("mimeapps.list" in p or "mimeinfo.cache" in p for p in entries)


@needs_deb
def test_deb_unpacked_into_a_scratch_root(build, tmp_path):
    """dpkg -x, then what dpkg's triggers would do there: MIME type, default app, launcher."""
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(build["deb"]), str(root)], check=True)
    share = root / "usr" / "share"
    desktop = share / "applications" / "siffviewer.desktop"
    subprocess.run(["desktop-file-validate", str(desktop)], check=True)
    entry = dict(line.split("=", 1) for line in desktop.read_text().splitlines() if "=" in line)
    assert entry["Exec"] == "siffviewer %f" and entry["Icon"] == "siffviewer"
    assert entry["MimeType"] == "application/x-siff;"
    assert (root / "usr" / "bin" / "siffviewer").readlink() == Path("/opt/siffviewer/siffviewer")
    subprocess.run(["update-mime-database", str(share / "mime")], check=True, capture_output=True)
    subprocess.run(["update-desktop-database", str(share / "applications")], check=True)
    assert "application/x-siff=siffviewer.desktop;" in \
        (share / "applications" / "mimeinfo.cache").read_text()
    assert "application/x-siff:*.siff" in (share / "mime" / "globs2").read_text()
    empty = tmp_path / "home"
    xdg = {"PATH": os.environ["PATH"], "HOME": str(empty), "XDG_DATA_HOME": str(empty / "data"),
           "XDG_CONFIG_HOME": str(empty / "config"), "XDG_CONFIG_DIRS": str(empty / "etc"),
           "XDG_DATA_DIRS": str(share)}
    if shutil.which("xdg-mime"):
        proc = subprocess.run(["xdg-mime", "query", "default", "application/x-siff"], env=xdg,
                              capture_output=True, text=True, check=True)
        assert proc.stdout.strip() == "siffviewer.desktop"
    # Qt's own MIME database (what a Qt file dialog uses) sees the type by name
    probe = ("from PyQt6 import QtCore; db = QtCore.QMimeDatabase(); "
             "t = db.mimeTypeForFile('x.siff', QtCore.QMimeDatabase.MatchMode.MatchExtension); "
             "print(t.name(), '|', t.comment())")
    proc = subprocess.run([sys.executable, "-c", probe], env={**xdg, **offscreen_env(),
                          "XDG_DATA_DIRS": str(share)}, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "application/x-siff | ScanImage-FLIM recording"
    # the unpacked program runs from its new place
    report = bundle_check(root / "opt" / "siffviewer" / "siffviewer", tmp_path / "check.json")
    assert Path(report["sample"]).resolve().is_relative_to(root.resolve())


def _debootstrap(target: Path):
    if not shutil.which("debootstrap"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"],
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                       capture_output=True, check=True, timeout=300)
    proc = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(target),
                           "http://deb.debian.org/debian"], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        if "Failed getting release file" in proc.stderr + proc.stdout or \
                "Couldn't download" in proc.stderr + proc.stdout:
            pytest.skip(f"Debian mirror unreachable: {proc.stderr[-300:]}")
        raise AssertionError(proc.stdout[-2000:] + proc.stderr[-2000:])


@needs_deb
@pytest.mark.skipif(LINUX and os.geteuid() != 0, reason="a chroot install needs root")
@pytest.mark.skipif(os.environ.get("SIFF_SKIP_FRESH_INSTALL") == "1",
                    reason="SIFF_SKIP_FRESH_INSTALL=1")
def test_install_on_a_fresh_debian_and_uninstall(build, tmp_path):
    """apt installs the .deb with its Depends on a bare Debian 12; the launcher's command
    opens the app on the sample under Xvfb; xdg-mime names the app for .siff; purge leaves
    nothing behind."""
    if not Path("/etc/debian_version").read_text().startswith("12"):
        pytest.skip("the fresh root is Debian 12 (bookworm); this host builds for another release")
    root = tmp_path / "fresh"
    try:
        _debootstrap(root)
        _install_run_purge(root, build["deb"])
    finally:  # a Debian root is 700 MB; pytest keeps the last runs' tmp folders
        shutil.rmtree(root, ignore_errors=True)


def _install_run_purge(root: Path, deb: Path):
    shutil.copy(deb, root / "tmp" / deb.name)

    def chroot(script, check=True, timeout=600):
        proc = subprocess.run(["chroot", str(root), "/bin/sh", "-c", script], capture_output=True,
                              text=True, timeout=timeout,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                                   "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"})
        if check:
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    chroot("find / -xdev -path /proc -prune -o -print | sort > /tmp/before.txt")
    chroot("apt-get update -qq && apt-get install -y -qq --no-install-recommends xdg-utils "
           f"xvfb xauth /tmp/{deb.name}")
    # the menu entry's command on a real X server (Qt's xcb platform, the system's libxcb/GL)
    desktop = (root / "usr/share/applications/siffviewer.desktop").read_text()
    command = re.search(r"^Exec=(.*)$", desktop, re.M).group(1)
    command = command.replace("%f", "/opt/siffviewer/_internal/resources/sample.siff")
    chroot(f'cd /tmp && xvfb-run -a -s "-screen 0 1280x800x24" {command} '
           "--screenshot /tmp/shot.png --timepoint 3")
    check_screenshot(root / "tmp" / "shot.png")
    check = chroot("QT_QPA_PLATFORM=offscreen siffviewer --bundle-check /tmp/check.json; "
                   "cat /tmp/check.json")
    report = json.loads(check.stdout)
    assert report["ok"] and report["font_families"] > 0, report
    assert chroot("xdg-mime query default application/x-siff").stdout.strip() == \
        "siffviewer.desktop"
    assert chroot("siff info /opt/siffviewer/_internal/resources/sample.siff --json "
                  "| grep -c '\"frames\": 320'").stdout.strip() == "1"
    # uninstall: no file of ours, and the caches no longer name the app
    chroot("apt-get purge -y -qq siffviewer")
    chroot("rm -f /tmp/shot.png /tmp/check.json; "
           "find / -xdev -path /proc -prune -o -print | sort > /tmp/after.txt")
    left = chroot("grep -rl -e siffviewer -e x-siff /opt /usr/bin /usr/share/applications "
                  "/usr/share/mime /usr/share/icons /etc /var/lib/dpkg/info 2>/dev/null; true")
    assert left.stdout.strip() == "", left.stdout
    before = set((root / "tmp" / "before.txt").read_text().splitlines())
    after = set((root / "tmp" / "after.txt").read_text().splitlines())
    ours = [p for p in after - before if "siff" in p]
    # the user's own settings (recent files, window layout) stay in their home, as with any
    # Debian package; everything the package installed or generated is gone
    home = [p for p in ours if p.startswith("/root/.config/siffviewer")]
    assert sorted(set(ours) - set(home)) == [], ours
