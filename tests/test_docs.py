"""The project's own documents: everything a school needs is in the repository and still true."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from tests.test_cli import jembatan

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_documents_never_send_a_newcomer_outside_the_repository() -> None:
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "CONTRACT.md" not in text, path
        for target in re.findall(r"\]\(((?!https?:)[^)#]+)\)", text):  # relative links resolve
            assert (path.parent / target).exists(), (path, target)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`DEMO`" in readme and "make run PORT=8100" in readme
    assert "docs/roster.md" in readme and "docs/meetings.md" in readme


def test_every_roster_column_of_the_demo_school_is_explained() -> None:
    explained = (ROOT / "docs" / "roster.md").read_text(encoding="utf-8")
    for name in ("staff", "students", "guardians"):
        with (ROOT / "storage" / "demo" / f"{name}.csv").open(encoding="utf-8") as handle:
            for column in next(csv.reader(handle)):
                assert f"`{column}`" in explained, (name, column)


def test_the_meeting_file_examples_work_against_the_demo_school(tmp_path: Path, sqlite_url: str) -> None:
    db = sqlite_url  # a copy of the migrated template: `db upgrade` itself is tested in test_cli.py
    assert jembatan("demo", database_url=db, cwd=tmp_path).returncode == 0
    text = (ROOT / "docs" / "meetings.md").read_text(encoding="utf-8")
    examples = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    assert len(examples) >= 2
    for number, example in enumerate(examples):
        path = tmp_path / f"example{number}.yaml"
        path.write_text(example, encoding="utf-8")
        made = jembatan("meeting", "create", str(path), database_url=db, cwd=tmp_path)
        assert made.returncode == 0, (example, made.stderr)
