"""project.yml: every workflow runs on a fresh clone, in order.

A fresh clone holds only tracked files, so each command's dependency must be in the repository or be
the output of a command that runs earlier in the same workflow. This catches a workflow that would stop
halfway with "missing dependency" (spaCy's own check only runs when the command is reached).
"""

import subprocess
from pathlib import Path

import pytest
from weasel.util import load_project_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project():
    return load_project_config(ROOT)


@pytest.fixture(scope="module")
def tracked():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout:
        pytest.skip("not a git checkout")
    return out.stdout.splitlines()


def _in_repo(dep: str, tracked: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for path in tracked)


def _produced(dep: str, outputs: set[str]) -> bool:
    dep = dep.rstrip("/")
    return any(dep == out or dep.startswith(out + "/") for out in outputs)


def test_workflow_steps_are_commands(project):
    names = {cmd["name"] for cmd in project["commands"]}
    for workflow, steps in project["workflows"].items():
        unknown = [step for step in steps if step not in names]
        assert not unknown, f"workflow {workflow!r} names unknown commands {unknown}"


@pytest.mark.parametrize("workflow", ["pipeline", "all", "trf"])
def test_workflow_dependencies_exist_in_order(project, tracked, workflow):
    commands = {cmd["name"]: cmd for cmd in project["commands"]}
    outputs: set[str] = set()
    missing = []
    for step in project["workflows"][workflow]:
        cmd = commands[step]
        for dep in cmd.get("deps", []):
            if not (_in_repo(dep, tracked) or _produced(dep, outputs)):
                missing.append(f"{step}: {dep}")
        outputs.update(o.rstrip("/") for o in cmd.get("outputs", []) + cmd.get("outputs_no_cache", []))
    assert not missing, f"workflow {workflow!r} would miss: {missing}"


def test_shipped_pipeline_is_refitted_and_scored_apart(project):
    """The main job ships models fitted on all documents; dev scores come from train-only models."""
    commands = {cmd["name"]: cmd for cmd in project["commands"]}
    pipeline = project["workflows"]["pipeline"]
    assert "train-cpu" not in pipeline and "train-cpu-release" in pipeline
    release = commands["train-cpu-release"]["script"][0]
    assert f"--paths.train {project['vars']['release_train']}" in release
    assert "--training.patience 0" in release
    evaluated = " ".join(commands["evaluate-pipeline"]["script"])
    assert "training/assembled/cnn_dev" in evaluated
    assert "training/release" not in " ".join(commands["assemble-dev"]["script"])


@pytest.mark.parametrize("name", ["meta_cnn.json", "meta_trf.json"])
def test_package_meta_passes_spacy_schema(project, name):
    """`spacy package --meta-path` merges these into the pipeline's meta and validates the result."""
    import json

    from spacy.schemas import ModelMetaSchema, validate

    packaged = " ".join(" ".join(cmd["script"]) for cmd in project["commands"] if cmd["name"].startswith("package"))
    assert f"--meta-path configs/{name}" in packaged
    meta = json.loads((ROOT / "configs" / name).read_text(encoding="utf8"))
    merged = {"lang": "en", "name": "clinical_ner", "version": "0.1.0", "spacy_version": ">=3.7.5,<3.8.0", **meta}
    assert validate(ModelMetaSchema, merged) == []
    assert meta["description"] and meta["license"]
    assert all(source.get("name") and source.get("license") for source in meta["sources"])
