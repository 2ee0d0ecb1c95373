"""Packaging: environment.yml and pyproject.toml list the same dependencies; the README stays true."""

from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).parents[1]


def _normalise(requirement: str) -> str:
    return requirement.replace(" ", "").lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_route = {_normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_route = {_normalise(r) for r in pip_section if not r.startswith("-e")}
    assert conda_route == pip_route, (
        f"only in environment.yml: {sorted(conda_route - pip_route)}; only in pyproject.toml: {sorted(pip_route - conda_route)}")
    assert "-e ." in pip_section, "environment.yml must install the helpers package itself"


def test_readme_has_the_two_commands_and_ci_calls_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_layout_names_every_module():
    """The README's map of the package stays true: every module is named in its Layout section."""
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1]
    package = ROOT / "src" / "helpers"
    modules = [p.stem for p in package.rglob("*.py") if not p.name.startswith("__")]
    missing = [m for m in modules if f"`{m}`" not in layout]
    assert not missing, f"README's Layout does not name {missing}"
