"""Supply chain: every dependency pinned in constraints.txt, pins above the advisory minimums,
production and CI installing with the pins, secrets kept out of git.

pyproject.toml has lower bounds only; constraints.txt (written by bin/lock_constraints.py) pins the
whole resolved set, the test extra included. These tests read the files as they are committed.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PYPROJECT_TEXT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
CONSTRAINTS = ROOT / "constraints.txt"

#: First releases without the known advisories (OSV / GitHub advisory database), with the ids that
#: set them. Kept here as well as in pyproject.toml, so lowering a bound there fails a test.
ADVISORY_MINIMUMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gunicorn": ("27.0.0", ("GHSA-w3h3-4rj7-4ph4", "GHSA-hc5x-x2vx-497g", "CVE-2026-134820")),
    "werkzeug": ("3.1.6", ("GHSA-2g68-c3qc-8985", "GHSA-q34m-jh98-gwm2", "GHSA-f9vj-2wh5-fj8j",
                           "GHSA-hgf8-39gv-g3f2", "GHSA-87hc-h4r5-73f7", "GHSA-29vq-49wr-vm6x")),
    "urllib3": ("2.8.0", ("GHSA-pq67-6m6q-mj2v", "GHSA-gm62-xv2j-4w53", "GHSA-2xpw-w6gg-jr37",
                          "GHSA-38jv-5279-wg99", "GHSA-mf9v-mfxr-j63j", "GHSA-qccp-gfcp-xxvc",
                          "GHSA-8988-9cw3-xx77", "GHSA-vxq7-64xx-v4gw")),
    "flask": ("3.1.3", ("GHSA-4grg-w6v8-c28g", "GHSA-68rp-wp8r-4726")),
    "jinja2": ("3.1.6", ("GHSA-q2x7-8rv6-6q7h", "GHSA-h75v-3vvj-5mfj", "GHSA-cpwx-vrp4-4pq7")),
    "requests": ("2.33.0", ("GHSA-9wx4-h78v-vm56", "GHSA-9hjg-9r4m-mvj7", "CVE-2026-25645")),
    "aiohttp": ("3.14.5", ("GHSA-9548-qrrj-x5pj", "PYSEC-2026-2101", "PYSEC-2026-2103", "PYSEC-2026-4369",
                           "GHSA-2g87-pp6c-29x5", "GHSA-5wr8-gcqf-gqf3", "GHSA-494j-54xm-rwp3")),
    "scikit-learn": ("1.5.0", ("GHSA-jw8x-6495-233v",)),
    "idna": ("3.7", ("GHSA-jjg7-2v4v-x38h",)),
    "certifi": ("2024.7.4", ("GHSA-248v-346w-9cwc",)),
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> list[Requirement]:
    """Every requirement of pyproject.toml: the dependencies and every extra (the tests run with `test`)."""
    project = PYPROJECT["project"]
    extras = [r for group in project.get("optional-dependencies", {}).values() for r in group]
    return [Requirement(r) for r in [*project["dependencies"], *extras]]


def pins() -> dict[str, Version]:
    """constraints.txt as ``{canonical name: version}``; every line must be ``name==version``."""
    out: dict[str, Version] = {}
    for number, line in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        assert m, f"constraints.txt:{number}: not an exact pin: {line!r}"
        assert canonical(m[1]) not in out, f"constraints.txt:{number}: {m[1]} pinned twice"
        out[canonical(m[1])] = Version(m[2])
    return out


def minimum(req: Requirement) -> Version | None:
    """The lower bound of a requirement (its ``>=``), None when it has none."""
    bounds = [Version(s.version) for s in req.specifier if s.operator == ">="]
    return max(bounds) if bounds else None


def test_constraints_file_exists_with_exact_sorted_pins():
    text = CONSTRAINTS.read_text(encoding="utf-8")
    assert "bin/lock_constraints.py" in text.splitlines()[1]
    names = list(pins())
    assert names == sorted(names) and len(names) > 30


def test_every_dependency_and_test_extra_is_pinned():
    missing = [str(r) for r in requirements() if canonical(r.name) not in pins()]
    assert missing == []
    assert "tsunagu" not in pins()             # the project itself is installed from the checkout


def test_every_pin_satisfies_pyproject():
    pinned = pins()
    wrong = [f"{r.name}: {pinned[canonical(r.name)]} not in {r.specifier}" for r in requirements()
             if not r.specifier.contains(pinned[canonical(r.name)], prereleases=True)]
    assert wrong == []


def test_pyproject_has_lower_bounds_only():
    """No upper bounds (constraints.txt holds the tested versions), and every requirement has a floor."""
    for req in requirements():
        assert minimum(req) is not None, f"{req}: no lower bound"
        assert {s.operator for s in req.specifier} == {">="}, f"{req}: only >= (no upper bound, no pin)"


@pytest.mark.parametrize("name", sorted(ADVISORY_MINIMUMS))
def test_no_pin_or_bound_below_the_advisory_minimum(name):
    floor, ids = ADVISORY_MINIMUMS[name]
    assert pins()[name] >= Version(floor), f"constraints.txt pins {name} {pins()[name]} < {floor}"
    req = next((r for r in requirements() if canonical(r.name) == name), None)
    assert req is not None, f"{name} has no lower bound in pyproject.toml (a plain install could get {name} < {floor})"
    assert minimum(req) >= Version(floor), f"pyproject.toml allows {name} {minimum(req)} < {floor}"
    for advisory in ids:
        assert advisory in PYPROJECT_TEXT, f"pyproject.toml does not cite {advisory} for {name}"


def test_build_backend_floor():
    (setuptools,) = [Requirement(r) for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    assert minimum(setuptools) >= Version("78.1.1")     # GHSA-5rjg-fvgr-3xxf


def test_ci_installs_with_the_constraints():
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    installs = [line for line in run.splitlines() if re.search(r"\bpip install\b", line)]
    assert installs and all("-c constraints.txt" in line for line in installs), installs
    assert any("-e '.[test]'" in line for line in installs)


def test_the_image_and_the_server_install_with_the_constraints():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^COPY [^\n]*\bconstraints\.txt\b", dockerfile, re.M)
    installs = re.findall(r"pip install[^\n&]*", dockerfile)
    assert installs and all("-c constraints.txt" in i for i in installs), installs
    guide = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    installs = re.findall(r"pip install[^\n`&]*", guide)
    assert installs and all("-c constraints.txt" in i for i in installs), installs


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize("path, ignored", [
    (".env", True), ("deploy/.env", True), (".env.production", True), ("deploy/.env.example", False),
    ("tsunagu.db.key", True), ("data/tsunagu.db", True),
])
def test_gitignore_keeps_env_files_out(path, ignored):
    done = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT)
    assert done.returncode == (0 if ignored else 1), f"{path}: ignored should be {ignored}"


def _lock_module():
    spec = importlib.util.spec_from_file_location("lock_constraints", ROOT / "bin" / "lock_constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lock_script_writes_what_it_reads(tmp_path):
    lock = _lock_module()
    path = tmp_path / "constraints.txt"
    path.write_text(lock.render({"slack-bolt": "1.30.0", "flask": "3.1.3"}), encoding="utf-8")
    assert lock.read_pins(path) == {"flask": "3.1.3", "slack-bolt": "1.30.0"}
    assert path.read_text(encoding="utf-8").splitlines()[-2:] == ["flask==3.1.3", "slack-bolt==1.30.0"]
    assert lock.read_pins(CONSTRAINTS) == {name: str(v) for name, v in pins().items()}


def test_the_lock_script_resolves_a_project_with_pip(tmp_path):
    """A real dry-run resolution (the package index, as for any install): dependencies pinned, the
    project itself left out, names canonical."""
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=78.1.1"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "Lock_Probe"\nversion = "0"\ndependencies = ["PyYAML>=6.0"]\n'
        '[project.optional-dependencies]\ntest = ["iniconfig"]\n'
        '[tool.setuptools]\npy-modules = []\n', encoding="utf-8")
    lock = _lock_module()
    lock.PROJECT = "lock-probe"
    resolved = lock.resolve(tmp_path)
    assert set(resolved) == {"pyyaml", "iniconfig"}
    assert Version(resolved["pyyaml"]) >= Version("6.0")
