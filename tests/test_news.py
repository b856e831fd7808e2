"""`invoke new-article`: the Dutch and English files of a new article, with their metadata."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from shop import news

INVOKE = Path(sys.executable).parent / "invoke"


def metadata(file: Path) -> dict[str, str]:
    header = file.read_text(encoding="utf-8").split("\n\n", 1)[0]
    return dict(line.split(": ", 1) for line in header.splitlines())


def test_new_article_writes_both_languages_linked_by_one_key(tmp_path):
    when = dt.datetime(2026, 12, 1, 9, 30)
    files = news.new_article(tmp_path, "Nieuwe openingstijden", "New opening hours", when)
    assert [f.name for f in files] == [
        "2026-12-01-nieuwe-openingstijden.nl.md",
        "2026-12-01-nieuwe-openingstijden.en.md",
    ]
    nl, en = (metadata(f) for f in files)
    assert nl["Title"] == "Nieuwe openingstijden" and en["Title"] == "New opening hours"
    assert (nl["Slug"], en["Slug"]) == ("nieuwe-openingstijden", "new-opening-hours")
    assert nl["Key"] == en["Key"] == "nieuwe-openingstijden"
    assert (nl["Lang"], en["Lang"]) == ("nl", "en")
    assert nl["Date"] == en["Date"] == "2026-12-01 09:30"
    assert nl["Description"] and en["Description"]


def test_new_article_never_overwrites(tmp_path):
    files = news.new_article(tmp_path, "Titel", "Title")
    files[0].write_text("my text")
    with pytest.raises(news.ArticleExists):
        news.new_article(tmp_path, "Titel", "Title")
    assert files[0].read_text() == "my text"


def run_task(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(INVOKE), "new-article", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_invoke_task_creates_the_files(tmp_path):
    result = run_task("--title", "Één café", "--title-en", "One café", "--folder", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name.split("-", 3)[-1] for p in tmp_path.iterdir())  # without the date
    assert written == ["een-cafe.en.md", "een-cafe.nl.md"]


def test_invoke_task_refuses_a_title_without_letters(tmp_path):
    result = run_task("--title", "!!!", "--title-en", "News", "--folder", str(tmp_path))
    assert result.returncode != 0
    assert "new-article: the nl title has no letters or digits" in result.stderr
    assert not list(tmp_path.iterdir())
