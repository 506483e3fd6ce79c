"""Publishing is atomic, verified, and versions are never overwritten."""

import json
import shutil
from datetime import datetime, timezone

import pytest

from ticketml.bundle import CURRENT_FILE, MODEL_FILE, VERSIONS_DIR, read_current
from ticketml.errors import BundleNotFoundError, ChecksumError
from ticketml.bundle import sha256_file
from training.publish import compare, current_version, list_versions, make_version, prune, publish


@pytest.fixture
def model_dir(trained, tmp_path):
    """A private copy of the small trained model directory."""
    target = tmp_path / "model"
    shutil.copytree(trained[0], target)
    return target


def _copy_version(model_dir, name):
    source = model_dir / VERSIONS_DIR / read_current(model_dir)["version"]
    shutil.copytree(source, model_dir / VERSIONS_DIR / name)


def test_publish_points_current_json_at_the_version_and_leaves_no_temp_files(model_dir):
    old = current_version(model_dir)
    _copy_version(model_dir, "zz-copy")  # Same manifest, other directory: still valid.
    current = publish(model_dir, "zz-copy")
    assert read_current(model_dir)["version"] == current["version"] == "zz-copy"
    assert sorted(list_versions(model_dir)) == sorted([old, "zz-copy"])
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(".")] == []
    publish(model_dir, old)  # Roll back.
    assert current_version(model_dir) == old


def test_publish_refuses_an_unknown_version(model_dir):
    with pytest.raises(BundleNotFoundError, match="Known versions"):
        publish(model_dir, "nope")


def test_publish_refuses_a_tampered_version_and_keeps_the_current_one(model_dir):
    before = (model_dir / CURRENT_FILE).read_text()
    _copy_version(model_dir, "zz-bad")
    with open(model_dir / VERSIONS_DIR / "zz-bad" / MODEL_FILE, "ab") as f:
        f.write(b"x")
    with pytest.raises(ChecksumError):
        publish(model_dir, "zz-bad")
    assert (model_dir / CURRENT_FILE).read_text() == before


def test_versions_are_a_digest_of_data_params_and_code_not_of_the_date():
    version = make_version("ab" * 32, {"seed": 7})
    assert len(version) == 12 and int(version, 16) >= 0
    assert make_version("ab" * 32, {"seed": 7}) == version
    assert make_version("ab" * 32, {"seed": 8}) != version
    assert make_version("cd" * 32, {"seed": 7}) != version


def test_retraining_the_same_data_and_seed_reuses_the_version(trained, demo_file, tmp_path):
    from training.mapping import NATIVE
    from training.pipeline import run
    from training.train import TrainParams

    # The version the session's training wrote (2026-01-02, seed 7), without current.json: retrained a year later
    # into that folder, without publishing, the same data and seed give the same metrics and the same version,
    # which is reused, and nothing is published.
    first = trained[1]
    shutil.copytree(trained[0] / VERSIONS_DIR / first.version, tmp_path / VERSIONS_DIR / first.version)
    second = run(demo_file, NATIVE, tmp_path, TrainParams(), show_progress=False,
                 now=datetime(2027, 5, 6, tzinfo=timezone.utc), publish_bundle=False)
    assert second.card["metrics"] == first.card["metrics"]
    assert second.version == first.version
    assert list_versions(tmp_path) == [first.version]
    assert current_version(tmp_path) is None
    manifest = json.loads((second.version_dir / "manifest.json").read_text())
    assert manifest["version"] == second.version


def test_a_version_is_written_with_its_evaluation_plots(trained):
    manifest = json.loads((trained[1].version_dir / "manifest.json").read_text())
    plots = [name for name in manifest["artifacts"] if name.endswith(".png")]
    assert "priority_confusion.png" in plots and "resolution_scatter.png" in plots
    assert (trained[1].version_dir / "priority_confusion.png").read_bytes()[:4] == b"\x89PNG"


def _metrics(priority_f1=0.7, sentiment_f1=0.8, log_mae=0.6, within=0.6):
    return {"priority": {"n": 10, "model": {"macro_f1": priority_f1}},
            "sentiment": {"n": 10, "model": {"macro_f1": sentiment_f1}},
            "resolution": {"n": 10, "model": {"log_mae": log_mae, "within_2x": within}}}


def test_compare_lists_the_metrics_that_got_worse_beyond_noise():
    assert compare(_metrics(), _metrics()) == []
    assert compare(_metrics(priority_f1=0.698), _metrics()) == []  # Within tolerance.
    worse = compare(_metrics(priority_f1=0.6, log_mae=0.9), _metrics())
    assert worse == ["priority macro_f1 0.6 < 0.7", "resolution log_mae 0.9 > 0.6"]
    assert compare(_metrics(sentiment_f1=0.9, log_mae=0.5), _metrics()) == []


def test_promotion_refuses_a_worse_model_unless_forced(model_dir, demo_file):
    from training.mapping import NATIVE
    from training.pipeline import run
    from training.train import TrainParams

    published = current_version(model_dir)
    weak = TrainParams(priority_c=0.001, sentiment_c=0.001, ridge_alpha=1e5)
    refused = run(demo_file, NATIVE, model_dir, weak, show_progress=False)
    assert not refused.published and refused.refused
    assert any("priority macro_f1" in r for r in refused.refused)
    assert current_version(model_dir) == published
    forced = run(demo_file, NATIVE, model_dir, weak, show_progress=False, force=True)
    assert forced.published and current_version(model_dir) == forced.version


def test_the_publish_command_refuses_a_version_whose_card_is_worse(model_dir, capsys):
    from training.__main__ import main

    published = current_version(model_dir)
    _copy_version(model_dir, "zz-worse")
    card_path = model_dir / VERSIONS_DIR / "zz-worse" / "model_card.json"
    card = json.loads(card_path.read_text())
    card["metrics"]["priority"]["model"]["macro_f1"] -= 0.2
    card_path.write_text(json.dumps(card))
    manifest_path = model_dir / VERSIONS_DIR / "zz-worse" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts"]["model_card.json"]["sha256"] = sha256_file(card_path)
    manifest_path.write_text(json.dumps(manifest))
    assert main(["publish", "--model-dir", str(model_dir), "--version", "zz-worse"]) == 1
    assert "--force" in capsys.readouterr().err and current_version(model_dir) == published
    assert main(["publish", "--model-dir", str(model_dir), "--version", "zz-worse", "--force"]) == 0
    assert current_version(model_dir) == "zz-worse"


def test_prune_keeps_the_published_version_and_the_newest_others(model_dir):
    published = current_version(model_dir)
    for i, name in enumerate(["a-old", "b-mid", "c-new"]):
        _copy_version(model_dir, name)
        path = model_dir / VERSIONS_DIR / name / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["created_at"] = f"2026-01-0{i + 1}T00:00:00+00:00"
        path.write_text(json.dumps(manifest))
    assert prune(model_dir, keep=1) == ["a-old", "b-mid"]
    assert sorted(list_versions(model_dir)) == sorted([published, "c-new"])
    assert prune(model_dir, keep=0) == ["c-new"]
    assert list_versions(model_dir) == [published]
