"""Every query README shows runs as written against a demo load and returns rows."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from pipelines.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]*uapi query [^`]*)`")
COMMAND = re.compile(r"^(?:\.venv/bin/)?uapi query\b")


def readme_queries(text: str) -> list[tuple[str, list[str]]]:
    """(where, `uapi query` arguments) for every fenced `sql` block and every `uapi query`
    command, fenced or inline, in `text`."""
    found: list[tuple[str, list[str]]] = []
    for match in FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if language == "sql":
            found.append((f"README.md:{line} (sql block)", [body.strip().rstrip(";")]))
        elif language == "sh" and COMMAND.match(body.strip()):
            found.append((f"README.md:{line}", _arguments(body)))
    prose = FENCE.sub("", text)
    for match in INLINE.finditer(prose):
        found.append((f"README.md inline `{match.group(1)[:40]}...`", _arguments(match.group(1))))
    return found


def _arguments(command: str) -> list[str]:
    words = shlex.split(command, comments=True)
    start = next(i for i, word in enumerate(words) if word == "query")
    assert words[start - 1].endswith("uapi"), command
    return words[start + 1 :]


QUERIES = readme_queries(README.read_text())


def test_readme_has_the_queries_it_promises():
    # the four examples and the quick start's; a broken extraction must not pass by finding none
    assert len(QUERIES) >= 5, QUERIES


@pytest.mark.parametrize("where,arguments", QUERIES, ids=[where for where, _ in QUERIES])
def test_readme_query_returns_rows(where, arguments, demo_db, capsys):
    code = main(["query", *arguments, "--db", str(demo_db), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, f"{where}: {err}"
    rows = json.loads(out)
    assert rows, f"{where} returned no rows"


def test_extraction_finds_fenced_sql_inline_and_multiline_commands():
    text = (
        'Try `uapi query "select 1"` now.\n\n'
        "```sql\nselect 2;\n```\n\n"
        "```sh\nuapi query \"\nselect 'a b'\n\" --format csv   # comment\n```\n\n"
        "```sh\nuapi load\n```\n"
    )
    assert [args for _, args in readme_queries(text)] == [
        ["select 2"],
        ["\nselect 'a b'\n", "--format", "csv"],
        ["select 1"],
    ]
