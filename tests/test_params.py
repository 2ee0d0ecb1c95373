"""The parameter schema: wrong values fail with the parameter's name and the fix."""

import pytest

from helpers import params
from helpers.errors import ParameterError


def test_valid_values_pass_and_ints_become_floats():
    out = params.validate({"n_rows": 64, "k": 4, "seed": 0, "threshold": 1, "dtype": "float32", "device": "cpu"})
    assert out == {"n_rows": 64, "k": 4, "seed": 0, "threshold": 1.0, "dtype": "float32", "device": "cpu"}
    assert isinstance(out["threshold"], float)


@pytest.mark.parametrize("values, words", [
    ({"seed": -1}, ["seed", ">= 0"]),
    ({"n_rows": "64"}, ["n_rows", "-p n_rows 64"]),
    ({"n_rows": True}, ["n_rows", "an int"]),
    ({"dtype": "float8"}, ["dtype", "'float32'"]),
    ({"k": 9, "n_rows": 8}, ["k = 9 exceeds n_rows = 8"]),
    ({"n_ablate_seqs": 5, "n_seqs": 4}, ["n_ablate_seqs"]),
    ({"nrows": 5}, ["unknown parameter", "nrows", "n_rows"]),
    ({"device": "tpu"}, ["device", "cpu, cuda"]),
    ({"models": []}, ["models", "non-empty"]),
])
def test_bad_values_name_the_parameter_and_the_fix(values, words):
    with pytest.raises(ParameterError) as err:
        params.validate(values)
    for word in words:
        assert word in str(err.value)


def test_cuda_on_a_machine_without_it_names_the_fix(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ParameterError, match="no CUDA GPU.*-p device cpu"):
        params.validate({"device": "cuda"})
