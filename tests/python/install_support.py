"""`meson install` of the build tree into a temporary DESTDIR, and where things land there.

Shared by test_install.py and test_out_of_tree_plugin.py. The build is configured with
pkgconfig.relocatable=true, so the installed eulerstack*.pc files find their prefix from
their own location and a plugin can build against the DESTDIR copy.
"""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conftest import BUILD, ROOT, clean_env

MESON = ROOT / ".venv" / "bin" / "meson"


@dataclass
class Install:
    root: Path      # DESTDIR + prefix
    bindir: Path
    libdir: Path
    includedir: Path
    datadir: Path

    @property
    def exe(self) -> Path:
        return self.bindir / "eulerstack"

    @property
    def plugindir(self) -> Path:
        return self.libdir / "eulerstack" / "plugins"

    @property
    def pkgconfig(self) -> Path:
        return self.libdir / "pkgconfig"

    def run(self, *args, env=None, timeout=300):
        """The installed CLI, with no EULERSTACK_* variable unless `env` adds some."""
        return subprocess.run([str(self.exe), *map(str, args)], capture_output=True, text=True,
                              env=env if env is not None else clean_env(), timeout=timeout)


def build_options():
    options = json.loads((BUILD / "meson-info" / "intro-buildoptions.json").read_text())
    return {o["name"]: o["value"] for o in options}


def install_into(destdir: Path) -> Install:
    options = build_options()
    assert options["pkgconfig.relocatable"] is True, "configure the build with -Dpkgconfig.relocatable=true"
    done = subprocess.run([str(MESON), "install", "-C", str(BUILD), "--destdir", str(destdir), "--no-rebuild",
                           "--quiet"], capture_output=True, text=True, env=clean_env(), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    root = Path(str(destdir) + options["prefix"])
    return Install(root=root, bindir=root / options["bindir"], libdir=root / options["libdir"],
                   includedir=root / options["includedir"], datadir=root / options["datadir"])


def pkg_config_env(install: Install, **extra):
    """The environment for building against `install`: its pkg-config files first."""
    previous = os.environ.get("PKG_CONFIG_PATH")
    path = str(install.pkgconfig) + (os.pathsep + previous if previous else "")
    return clean_env(PKG_CONFIG_PATH=path, **extra)
