# The build step described in pyproject.toml: copies the modeling code of core
# and of every plugin into eulerstack/hf/ of the built package, where
# eulerstack_blocks.py finds the twins. Uses only the standard library and setuptools.
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

REPO = Path(__file__).resolve().parent.parent
CORE_FILES = ("configuration_eulerstack.py", "modeling_eulerstack.py", "eulerstack_sdk.py")


def plugin_twins(repo: Path):
    """The plugins' Python twins, plugins/**/eulerstack_<plugin>.py, by module name."""
    twins = {}
    for path in sorted((repo / "plugins").rglob("eulerstack_*.py")):
        if path.stem in twins:
            raise RuntimeError(f"two plugin twins named {path.stem}: {twins[path.stem]} and {path}")
        twins[path.stem] = path
    return twins


class BuildWithModelingCode(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "eulerstack" / "hf"
        target.mkdir(parents=True, exist_ok=True)
        for name in CORE_FILES:
            self.copy_file(str(REPO / "core" / "hf_python" / name), str(target / name))
        twins = plugin_twins(REPO)
        for stem, path in twins.items():
            self.copy_file(str(path), str(target / f"{stem}.py"))


setup(cmdclass={"build_py": BuildWithModelingCode})
