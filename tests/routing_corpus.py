"""The labelled routing corpus: fresh parent messages, split once into training and held-out.

tests/data/routing_corpus/ holds each writer's file as delivered (``writer_a.jsonl``...; fields
text, group, subject, ask_ok, brief) and, committed beside it, its split: ``*.train.jsonl``
(60%) and ``*.heldout.jsonl`` (40%). The split was made by the SHA-256 of each text, before any
result was looked at (``python -m tests.routing_corpus --split``). Held-out messages are never
used to tune the lexicon, the thresholds or the model; handlers/data/routing_training.jsonl,
from which the model's head is trained, is assembled from the training parts and the lexicon's
own tuning table (``python -m tests.routing_corpus --assemble``), and a test checks it stays so.
Writers delivered after the split as training messages only (``writer_c.train.jsonl`` to
``writer_n.train.jsonl``, with no ``writer_c.jsonl`` beside them) train in full; a text equal to
a held-out one would be left out of training. Writers delivered as held-out messages only
(``writer_o.heldout.jsonl`` to ``writer_t.heldout.jsonl``, written from briefs fixed before
their messages were read) are never trained on and widen the held-out measure.

Scoring, as the issue asks: a message is right when its group is right and, when the label has
a subject, the subject too; a message labelled ``ask_ok`` is also right when the router asks.
Confidently wrong is a routed message that is not right; asked is a message the router asked
about (counted whether or not asking was acceptable).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.classifier import Classification
from handlers.router_training import TRAINING_SUBJECTS, judge

CORPUS_DIR = Path(__file__).with_name("data") / "routing_corpus"
TRAINING_FILE = Path(__file__).resolve().parents[1] / "handlers" / "data" / "routing_training.jsonl"
TRAIN_SHARE = 0.6
# A junior high school's subjects: the demo school's six, and PAI and Seni Budaya, so that a
# Minang "pai" (go) and "seni" have something to be mistaken for.
SUBJECTS = TRAINING_SUBJECTS


def _digest(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).casefold().encode("utf-8")).hexdigest()


def writers() -> list[Path]:
    return sorted(p for p in CORPUS_DIR.glob("*.jsonl") if p.name.count(".") == 1)


def training_only() -> list[Path]:
    """Writers delivered as training messages only (``writer_c.train.jsonl`` with no
    ``writer_c.jsonl`` beside it): written after the split, all of them train, none is held out."""
    return sorted(p for p in CORPUS_DIR.glob("*.train.jsonl")
                  if not p.with_name(p.name.replace(".train.jsonl", ".jsonl")).exists())


def heldout_only() -> list[Path]:
    """Writers delivered as held-out messages only (``writer_o.heldout.jsonl`` with no
    ``writer_o.jsonl`` beside it): none of their messages trains."""
    return sorted(p for p in CORPUS_DIR.glob("*.heldout.jsonl")
                  if not p.with_name(p.name.replace(".heldout.jsonl", ".jsonl")).exists())


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training, held-out): the first 60% by the hash of the text, the rest held out."""
    unique = list({_digest(row["text"]): row for row in rows}.items())
    unique.sort(key=lambda item: item[0])
    cut = round(len(unique) * TRAIN_SHARE)
    return [row for _, row in unique[:cut]], [row for _, row in unique[cut:]]


def part(kind: str) -> list[dict[str, Any]]:
    """Every writer's ``train`` or ``heldout`` part."""
    rows: list[dict[str, Any]] = []
    for path in writers():
        rows.extend(read(path.with_suffix(f".{kind}.jsonl")))
    if kind == "heldout":
        for path in heldout_only():
            rows.extend(read(path))
    return rows


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                    encoding="utf-8")


def tuning_table() -> list[dict[str, Any]]:
    """The lexicon's own tuning table (tests/test_classifier.py), labelled by group."""
    from handlers.classifier import group_of
    from tests.test_classifier import CASES

    return [{"text": text, "group": group_of(category), "source": "tuning"}
            for text, category, _ in CASES if category]


def assembled_training() -> list[dict[str, Any]]:
    """The model's training corpus: the training parts and the tuning table."""
    held = {_digest(row["text"]) for row in part("heldout")}  # never train on these, even twice
    # Each row keeps its writer: the ask threshold must hold for every writer's style.
    fresh = [{**row, "writer": path.stem} for path in writers()
             for row in read(path.with_suffix(".train.jsonl"))]
    fresh += [{**row, "writer": path.name.split(".")[0]} for path in training_only()
              for row in read(path)]
    unique = {_digest(row["text"]): row for row in fresh if row.get("group")}
    rows = [{"text": row["text"], "group": row["group"], "subject": row.get("subject"),
             "ask_ok": bool(row.get("ask_ok")), "source": "corpus", "writer": row["writer"]}
            for digest, row in unique.items() if digest not in held]
    return rows + tuning_table()


@dataclass
class Score:
    right: int = 0
    asked: int = 0
    wrong: int = 0
    n: int = 0

    def add(self, row: dict[str, Any], result: Classification) -> str:
        verdict = judge(row, result)
        self.n += 1
        if verdict == "wrong":
            self.wrong += 1
        if result.group is None:
            self.asked += 1
        if verdict == "right":
            self.right += 1
        return verdict

    def rates(self) -> dict[str, float]:
        n = self.n or 1
        return {"right": self.right / n, "asked": self.asked / n, "wrong": self.wrong / n}

    def line(self) -> str:
        r = self.rates()
        return (f"n={self.n} right={self.right} ({r['right']:.1%}) asked={self.asked} "
                f"({r['asked']:.1%}) confidently wrong={self.wrong} ({r['wrong']:.1%})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="split the routing corpus / assemble training")
    parser.add_argument("--split", action="store_true", help="write *.train / *.heldout files")
    parser.add_argument("--assemble", action="store_true", help="write the training corpus")
    args = parser.parse_args(argv)
    if args.split:
        for path in writers():
            train, heldout = split(read(path))
            _write(path.with_suffix(".train.jsonl"), train)
            _write(path.with_suffix(".heldout.jsonl"), heldout)
            print(f"{path.name}: {len(train)} training, {len(heldout)} held out")
    if args.assemble:
        rows = assembled_training()
        _write(TRAINING_FILE, rows)
        print(f"{TRAINING_FILE}: {len(rows)} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
