"""The command line: demo-data, train, versions, publish; errors exit 1 with a message."""

import json

import pytest

from training.__main__ import _description_chars, main


def test_demo_data_then_train_then_list_versions(tmp_path, capsys):
    data = tmp_path / "demo.jsonl"
    assert main(["demo-data", "--n", "600", "--seed", "3", "--out", str(data), "--quiet"]) == 0
    assert len(data.read_text().splitlines()) == 600
    model = tmp_path / "model"
    assert main(["train", "--data", str(data), "--out", str(model), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "priority macro-F1" in out and "published" in out
    version = json.loads((model / "current.json").read_text())["version"]
    assert main(["versions"], environ={"MODEL_DIR": str(model)}) == 0
    assert f"* {version}" in capsys.readouterr().out
    assert main(["publish", "--model-dir", str(model), "--version", version]) == 0


def test_errors_exit_1_with_a_message(tmp_path, capsys):
    assert main(["publish", "--model-dir", str(tmp_path), "--version", "nope"]) == 1
    assert 'Invalid version: "nope"' in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path)]) == 1
    assert "error:" in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("")
    assert main(["train", "--data", str(tmp_path / "x.txt"), "--out", str(tmp_path),
                 "--mapping", "no-such"]) == 1
    assert "built-in name" in capsys.readouterr().err


def test_the_description_length_read_is_an_option_recorded_in_the_bundle(tmp_path, capsys):
    data = tmp_path / "demo.jsonl"
    assert main(["demo-data", "--n", "600", "--seed", "3", "--out", str(data), "--quiet"]) == 0
    model = tmp_path / "model"
    assert main(["train", "--data", str(data), "--out", str(model), "--quiet", "--description-chars", "120"]) == 0
    version = json.loads((model / "current.json").read_text())["version"]
    manifest = json.loads((model / "versions" / version / "manifest.json").read_text())
    assert manifest["params"]["description_chars"] == 120


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "lots", "１２"])
def test_an_invalid_description_length_is_refused_naming_it(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--data", str(tmp_path / "x.jsonl"), "--out", str(tmp_path), "--description-chars", value])
    assert exit_.value.code == 2
    assert f'Invalid --description-chars: "{value}"' in capsys.readouterr().err


def test_all_of_the_description_is_no_limit():
    assert _description_chars("all") is None and _description_chars("2000") == 2000
