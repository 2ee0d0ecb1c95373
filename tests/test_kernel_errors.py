"""A suite error in a notebook shows as one paragraph; any other error keeps its traceback.

In process, on an IPython shell with the handler installed; and through papermill's command line on
a real page with bad inputs (slow: each run starts a kernel)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from helpers import kernel_errors
from helpers.errors import ParameterError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    shell = InteractiveShell.instance()
    assert kernel_errors.install()  # get_ipython() now finds this shell
    yield shell
    shell.set_custom_exc((), None)


def test_suite_error_shows_one_paragraph(shell: InteractiveShell, capsys: pytest.CaptureFixture) -> None:
    result = shell.run_cell("from helpers.errors import ParameterError\n"
                            "def inner():\n    raise ParameterError('parameter seed must be >= 0; pass 0')\ninner()")
    out = capsys.readouterr().out
    assert isinstance(result.error_in_exec, ParameterError)  # the cell still fails
    assert out.strip() == "ParameterError: parameter seed must be >= 0; pass 0"


def test_other_errors_keep_their_traceback(shell: InteractiveShell, capsys: pytest.CaptureFixture) -> None:
    result = shell.run_cell("def inner():\n    raise ZeroDivisionError('a bug')\ninner()")
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    assert "Traceback" in out and "----> 3 inner()" in out and "ZeroDivisionError: a bug" in out


def test_install_outside_ipython_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert kernel_errors.install() is False


@pytest.mark.slow
@pytest.mark.parametrize("args, expected", [
    (["-p", "seed", "-1"], "ParameterError: parameter seed must be an int >= 0"),
    (["-p", "model", "no-such-model"], "UnknownModelError: unknown model 'no-such-model'"),
    (["-p", "results_dir", "{file}/sub"], "ParameterError: parameter results_dir: cannot write to"),
])
def test_papermill_command_line_shows_the_paragraph_without_ipython_traceback(
        tmp_path: Path, args: list[str], expected: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = [a.replace("{file}", str(blocker)) for a in args]
    out_nb = tmp_path / "out.ipynb"
    cmd = [sys.executable, "-m", "papermill", str(REPO / "notebooks" / "fig2d_unembed_null_space.ipynb"),
           str(out_nb), "-p", "model", "tiny-random-gpt2", "-p", "results_dir", str(tmp_path / "res"), *args,
           "--cwd", str(REPO / "notebooks")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    printed = done.stdout + done.stderr
    assert done.returncode != 0
    assert expected in printed
    assert "Cell In[" not in printed and "---->" not in printed  # no IPython frames
    errors = [o for c in json.loads(out_nb.read_text())["cells"] for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert len(errors) == 1 and errors[0]["traceback"] == [f"{errors[0]['ename']}: {errors[0]['evalue']}"]
    assert expected in errors[0]["traceback"][0]
