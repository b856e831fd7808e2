"""Start a news article: the Dutch and English Markdown files with their metadata filled in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pelican.settings import DEFAULT_CONFIG
from pelican.utils import slugify

NEWS_FOLDER = Path("content") / "news"

ARTICLE_TEMPLATE = """\
Title: {title}
Date: {date}
Slug: {slug}
Key: {key}
Lang: {lang}
Description: {description}

{body}
"""
PROMPTS = {
    "nl": {
        "description": "[Eén of twee zinnen: wat de lezer hier leest. Zoekmachines tonen dit.]",
        "body": "[Schrijf hier het artikel in Markdown. Een tussenkop begint met ## .]",
    },
    "en": {
        "description": "[One or two sentences on what the reader finds here. Search engines show this.]",
        "body": "[Write the article here in Markdown. A heading starts with ## .]",
    },
}


class ArticleExists(FileExistsError):
    """An article file is already there; nothing was written."""


def article_slug(title: str) -> str:
    """The address part Pelican would make of a title ("Eén café" -> "een-cafe")."""
    return slugify(title, regex_subs=DEFAULT_CONFIG["SLUG_REGEX_SUBSTITUTIONS"])


def new_article(
    folder: Path, title_nl: str, title_en: str, when: dt.datetime | None = None
) -> list[Path]:
    """Write the Dutch and English files of a new article, linked by one Key; returns them.

    Raises ValueError for an empty title and ArticleExists rather than overwrite a file.
    """
    when = when or dt.datetime.now().replace(second=0, microsecond=0)
    titles = {"nl": title_nl.strip(), "en": title_en.strip()}
    slugs = {lang: article_slug(title) for lang, title in titles.items()}
    for lang, slug in slugs.items():
        if not slug:
            raise ValueError(f"the {lang} title has no letters or digits: {titles[lang]!r}")
    files = {lang: folder / f"{when:%Y-%m-%d}-{slugs['nl']}.{lang}.md" for lang in titles}
    existing = [str(f) for f in files.values() if f.exists()]
    if existing:
        raise ArticleExists(f"already there, not overwritten: {', '.join(existing)}")
    folder.mkdir(parents=True, exist_ok=True)
    for lang, file in files.items():
        file.write_text(
            ARTICLE_TEMPLATE.format(
                title=titles[lang],
                date=f"{when:%Y-%m-%d %H:%M}",
                slug=slugs[lang],
                key=slugs["nl"],
                lang=lang,
                **PROMPTS[lang],
            ),
            encoding="utf-8",
        )
    return list(files.values())
