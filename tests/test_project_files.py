"""The project's own files agree with each other and with isspanel/versions.py."""

from __future__ import annotations

import json
import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from isspanel import versions
from isspanel.settings import variables

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def conda_env() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def pom_properties() -> dict[str, str]:
    root = ET.parse(ROOT / "pom.xml").getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    return {el.tag.split("}")[1]: el.text for el in root.find("m:properties", ns)}


def requirement(pyproject: dict, name: str) -> Requirement:
    (req,) = [
        Requirement(d) for d in pyproject["project"]["dependencies"] if Requirement(d).name == name
    ]
    return req


# --------------------------------------------------------------------------- environment.yml


def conda_packages(conda_env: dict) -> dict[str, str]:
    """{name: version spec} of the conda (non-pip) dependencies."""
    result = {}
    for dep in conda_env["dependencies"]:
        if isinstance(dep, str):
            name, _, spec = dep.partition("=")
            result[name.strip()] = spec.strip()
    return result


def test_environment_python_matches_pyproject(conda_env, pyproject):
    python = conda_packages(conda_env)["python"]
    assert python == versions.PYTHON
    requires = SpecifierSet(pyproject["project"]["requires-python"])
    assert f"{versions.PYTHON}.0" in requires
    major, minor = (int(p) for p in versions.PYTHON.split("."))
    assert f"{major}.{minor + 1}.0" not in requires
    assert f"{major}.{minor - 1}.0" not in requires


def test_environment_has_java_maven_and_pip(conda_env):
    packages = conda_packages(conda_env)
    assert packages["openjdk"] == versions.JAVA
    assert "maven" in packages
    assert "pip" in packages


def test_environment_pip_installs_the_project(conda_env, pyproject):
    (pip,) = [d["pip"] for d in conda_env["dependencies"] if isinstance(d, dict) and "pip" in d]
    installs = [p.replace(" ", "") for p in pip]
    assert {"-e.[test]", ".[test]", "-e.", "."} & set(installs)
    assert "test" in pyproject["project"]["optional-dependencies"]
    assert conda_env["name"] == pyproject["project"]["name"]


# --------------------------------------------------------------------------- pom.xml & pyproject


def test_pom_versions_match_versions_module():
    props = pom_properties()
    assert props["kafka.version"] == versions.KAFKA_VERSION
    assert props["flink.kafka.connector.version"] == versions.FLINK_KAFKA_CONNECTOR


def test_connector_is_built_for_the_flink_minor():
    """flink-sql-connector-kafka versions end in the Flink minor they target."""
    assert versions.FLINK_KAFKA_CONNECTOR.endswith(f"-{versions.FLINK_MINOR}")
    assert versions.FLINK_VERSION.startswith(f"{versions.FLINK_MINOR}.")


def test_pyproject_pins_flink_to_its_minor_series(pyproject):
    spec = requirement(pyproject, "apache-flink").specifier
    major, minor, _ = (int(p) for p in versions.FLINK_VERSION.split("."))
    assert versions.FLINK_VERSION in spec
    assert f"{major}.{minor}.99" in spec, "patch releases of the minor are allowed"
    assert f"{major}.{minor + 1}.0" not in spec, "the next minor is excluded"
    assert f"{major}.{minor - 1}.99" not in spec, "the previous minor is excluded"


def test_pyproject_declares_the_cli_and_yaml_for_these_tests(pyproject):
    assert pyproject["project"]["scripts"]["isspanel"] == "isspanel.cli:main"
    assert "yaml" in " ".join(pyproject["project"]["optional-dependencies"]["test"]).lower()


# --------------------------------------------------------------------------- CI & Makefile


def test_ci_runs_make_test():
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [ln for ln in lines if ln and not ln.startswith("#")]
    assert any(re.fullmatch(r"(exec\s+)?make\s+test(\s.*)?", ln) for ln in commands)
    assert lines[0].startswith("#!"), "CI runs it with bash, but it should say so itself"


def test_the_longest_modules_named_to_go_first_exist():
    """A module renamed or moved would silently lose its place at the front of the run."""
    from tests.conftest import SLOW_FIRST

    assert [p for p in SLOW_FIRST if not (ROOT / p).is_file()] == []
    assert len(set(SLOW_FIRST)) == len(SLOW_FIRST)


@pytest.mark.parametrize("target", ["up", "test", "bench", "help", "sql-client"])
def test_makefile_has_target(target):
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^{target}:", makefile, re.M), f"no `{target}:` rule"
    (phony,) = re.findall(r"^\.PHONY:(.*)$", makefile, re.M)
    assert target in phony.split()
    # `make help` lists the rules that carry a `## description`
    assert re.search(rf"^{target}:.*## \S", makefile, re.M), f"`{target}` has no ## help text"


def test_makefile_default_goal_is_help():
    assert re.search(r"^\.DEFAULT_GOAL\s*:=\s*help\s*$", (ROOT / "Makefile").read_text(), re.M)


# --------------------------------------------------------------------------- notebooks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_clean_and_titled(path):
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]
    assert cells, "empty notebook"
    first = cells[0]
    assert first["cell_type"] == "markdown"
    assert "".join(first["source"]).startswith("# "), "the first cell is a `# Title`"
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {i} has outputs"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"


# --------------------------------------------------------------------------- README and docs

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS, ROOT / "bench" / "README.md"]
# Linked from the README before it exists: the design note of architecture v3 (#22), which its
# lead writes once the redesign lands. Remove it from here then (a test below insists).
PENDING: set[Path] = set()


def settings_env_vars() -> set[str]:
    fields = {var.name for var in variables()}
    source = set(re.findall(r'"(ISS_[A-Z0-9_]+)"', (ROOT / "isspanel" / "settings.py").read_text()))
    return fields | source


def test_settings_env_vars_are_found():
    names = settings_env_vars()
    assert {"ISS_KAFKA_BOOTSTRAP", "ISS_TOPICS_LOCATION", "ISS_DASHBOARD_PORT"} <= names


def test_the_settings_page_documents_every_setting():
    """The table that was the README's Configuration section lives in docs/settings.md."""
    page = (ROOT / "docs" / "settings.md").read_text()
    missing = sorted(name for name in settings_env_vars() if not re.search(rf"\b{name}\b", page))
    assert not missing, f"docs/settings.md does not mention {', '.join(missing)}"


def links(page: Path) -> list[tuple[str, Path]]:
    """(text, target file) of every relative Markdown link on ``page``, anchors dropped."""
    found = []
    for text, target in re.findall(r"\[([^\]]+)\]\(([^)\s]+)\)", page.read_text()):
        if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
            found.append((text, (page.parent / target.split("#")[0]).resolve()))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_of_the_docs_finds_its_file(page):
    broken = [(text, str(target)) for text, target in links(page) if not target.exists()]
    assert not [b for b in broken if Path(b[1]) not in PENDING], broken


def test_the_readme_links_every_docs_page():
    linked = {target for _text, target in links(README)}
    assert not [p.name for p in DOCS if p.resolve() not in linked]
    assert (ROOT / "bench" / "README.md").resolve() in linked
    assert linked >= PENDING


def test_a_pending_page_is_still_pending():
    """Once docs/architecture.md exists, it is checked like every page: drop it from PENDING."""
    assert not [p for p in PENDING if p.exists()]


def test_the_readme_stays_a_page_for_a_newcomer():
    """The reference lives in docs/ and bench/README.md; the README says what, how, where."""
    assert len(README.read_text().splitlines()) <= 300
