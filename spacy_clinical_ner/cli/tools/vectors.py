"""``train-vectors``: floret vectors from the vendored unlabelled clinical and biomedical text.

The CPU NER has no pretrained vectors to start from (spaCy's English vectors are not
installable offline), so ``spacy project run vectors`` trains small floret vectors (subword
hashing, so every word gets a vector) on the text the project ships: the MACCROBAT *train*
documents (the dev split stays unseen), the BC5CDR and NCBI-disease abstracts and the
ACI-BENCH *train and valid* visit notes and dialogues (the three test files are kept for
independent evaluation: ``project.yml`` names the two files, never the folder). The output
folder is a spaCy pipeline holding only the vectors, for ``[initialize] vectors`` (keyed by the
lower-cased token, ``attr = LOWER``). Training is single-threaded with floret's fixed seed, so it
is reproducible.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Tuple

import typer

from ...errors import missing_extra
from .. import TOOLS_PANEL, app

#: Speaker tags that open the lines of ACI-BENCH / MTS-Dialog dialogues.
SPEAKER_TAG = re.compile(r"^\[[a-z_]+\]\s*", re.IGNORECASE)


def _files(path: Path, pattern: str, skip: Callable[[Path], bool]) -> List[Path]:
    """``path`` itself, or the files of the folder ``path`` matching ``pattern`` (sorted) that ``skip`` keeps out."""
    path = Path(path)
    return sorted(p for p in path.glob(pattern) if not skip(p)) if path.is_dir() else [path]


def _csv_header(path: Path) -> List[str]:
    import csv

    # the first line only, leniently: a note that cannot be decoded is reported by read_notes with its id
    with Path(path).open("rb") as f:
        first = f.readline().decode("utf-8-sig", errors="replace")
    return next(csv.reader([first]), [])


def iter_unlabelled_texts(
    docbins: Iterable[Path] = (),
    pubtator: Iterable[Path] = (),
    notes: Iterable[Path] = (),
    text_fields: Iterable[str] = ("note", "section_text", "dialogue"),
    id_field: str = "encounter_id",
) -> Iterator[str]:
    """Yield paragraphs: doc texts of DocBins, PubTator titles and abstracts, note columns.

    A note that cannot be read, or lacks a field, raises E008 (empty notes are passed over):
    the vectors are trained on all of the text asked for or not at all. Each CSV is read for the
    ``text_fields`` its header has (ACI-BENCH: note, dialogue; MTS-Dialog: section_text, dialogue);
    a CSV with none of them raises as a missing column does.
    """
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    from ...errors import ClinicalNERError, Errors
    from ...io.inputs import read_notes
    from ...io.records import error_record
    from ...readers.pubtator import read_pubtator

    for path in docbins:
        for doc in DocBin().from_disk(path).get_docs(Vocab()):
            yield from (p for p in doc.text.split("\n") if p.strip())
    for path in pubtator:
        for file in _files(path, "*.txt", skip=lambda p: p.name == "README.txt"):
            yield from (d.text for d in read_pubtator(file))
    for path in notes:
        for file in _files(path, "*.csv", skip=lambda p: p.stem.endswith("_metadata")):
            header = _csv_header(file)
            fields = [f for f in text_fields if f in header] or list(text_fields)[:1]  # none: read_notes names the columns
            for field in fields:
                for note in read_notes(file, text_field=field, id_field=id_field):
                    if note.error == "empty_text":  # nothing to learn from, nothing lost
                        continue
                    if note.error:
                        message = error_record(note.id, note.error, **note.details)["error"]["message"]
                        raise ClinicalNERError(Errors.E008.format(note_id=note.id, path=file, error=message))
                    for line in note.text.split("\n"):
                        line = SPEAKER_TAG.sub("", line.strip())
                        if line:
                            yield line


def write_training_text(texts: Iterable[str], output: Path) -> Tuple[int, int]:
    """Tokenize with the clinical tokenizer, lower-case, one paragraph a line; returns (lines, tokens)."""
    from ...tokenizer import clinical_blank

    nlp = clinical_blank()
    n_lines = n_tokens = 0
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as out:
        for doc in nlp.tokenizer.pipe(texts, batch_size=256):
            tokens = [t.lower_ for t in doc if not t.is_space]
            if tokens:
                out.write(" ".join(tokens) + "\n")
                n_lines += 1
                n_tokens += len(tokens)
    return n_lines, n_tokens


def build_vectors(text: Path, output_dir: Path, *, dim: int, epoch: int, bucket: int, min_count: int) -> Path:
    """Train floret CBOW vectors on ``text`` and save them as a spaCy pipeline; returns its folder.

    Writes ``vectors.floret`` (floret's text format) and ``nlp/`` (clinical tokenizer, floret-mode
    vectors keyed by ``LOWER``) into ``output_dir``. Character 3- to 5-grams, two hashes each;
    one thread and floret's fixed seed (0) make the vectors the same on every run.
    """
    try:
        import floret
    except ModuleNotFoundError as err:  # pip install 'spacy-clinical-ner[train]'
        raise missing_extra("train-vectors", err) from None
    from spacy.training.initialize import convert_vectors

    from ...tokenizer import clinical_blank

    output_dir.mkdir(parents=True, exist_ok=True)
    model = floret.train_unsupervised(
        str(text),
        model="cbow",
        mode="floret",
        hashCount=2,
        bucket=bucket,
        minn=3,
        maxn=5,
        dim=dim,
        epoch=epoch,
        minCount=min_count,
        neg=10,
        thread=1,
        verbose=0,
    )
    model.save_floret_vectors(str(output_dir / "vectors.floret"))
    nlp = clinical_blank()
    convert_vectors(nlp, output_dir / "vectors.floret", truncate=0, prune=-1, mode="floret", attr="LOWER")
    nlp.to_disk(output_dir / "nlp")
    return output_dir / "nlp"


@app.command("train-vectors", rich_help_panel=TOOLS_PANEL)
def train_vectors_cli(
    output_dir: Path = typer.Argument(..., help="Folder for text.txt, vectors.floret and the spaCy vectors pipeline (nlp/)"),
    docbin: List[Path] = typer.Option([], help="A .spacy file whose doc texts are used (the train split only)", exists=True),
    pubtator: List[Path] = typer.Option([], help="A PubTator file or folder of them", exists=True),
    notes: List[Path] = typer.Option([], help="A CSV of notes or a folder of them (see --text-field)", exists=True),
    text_field: List[str] = typer.Option(
        ["note", "section_text", "dialogue"], help="CSV columns to read (each CSV: those of them its header has)"
    ),
    id_field: str = typer.Option("encounter_id", help="CSV column with the note id (named in errors)"),
    dim: int = typer.Option(100, help="Vector width"),
    epoch: int = typer.Option(10, help="Passes over the text"),
    bucket: int = typer.Option(50000, help="Rows of the hashed vector table"),
    min_count: int = typer.Option(2, help="Words seen fewer times get only subword vectors"),
) -> None:
    """Train floret vectors on unlabelled text and convert them into a spaCy pipeline for the configs' initialize.vectors."""
    if not (docbin or pubtator or notes):
        raise typer.BadParameter("give at least one --docbin, --pubtator or --notes source")
    n_lines, n_tokens = write_training_text(iter_unlabelled_texts(docbin, pubtator, notes, text_field, id_field), output_dir / "text.txt")
    typer.echo(f"{n_lines} paragraphs, {n_tokens} tokens -> {output_dir / 'text.txt'}")
    path = build_vectors(output_dir / "text.txt", output_dir, dim=dim, epoch=epoch, bucket=bucket, min_count=min_count)
    typer.echo(f"{bucket} x {dim} floret vectors -> {path}")
