"""Print the category scores of Lighthouse JSON reports, and the audits that cost points."""

from __future__ import annotations

import json
import sys
from pathlib import Path

CATEGORIES = ("performance", "accessibility", "best-practices", "seo")


def summarise(path: Path) -> list[str]:
    report = json.loads(path.read_text(encoding="utf-8"))
    scores = {
        cat: round(report["categories"][cat]["score"] * 100)
        for cat in CATEGORIES
        if report["categories"].get(cat, {}).get("score") is not None
    }
    lines = [
        f"{report['finalDisplayedUrl']}\n  "
        + "  ".join(f"{cat} {scores.get(cat, '-')}" for cat in CATEGORIES)
    ]
    for cat in CATEGORIES:
        for ref in report["categories"].get(cat, {}).get("auditRefs", []):
            audit = report["audits"][ref["id"]]
            if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
                shown = audit.get("displayValue", "")
                lines.append(f"    {cat}: {audit['id']} {audit['score']:.2f} {shown}".rstrip())
    for key in ("runtimeError", "runWarnings"):
        if report.get(key):
            lines.append(f"    {key}: {report[key]}")
    return lines


def main(paths: list[str]) -> int:
    if not paths:
        print("usage: lighthouse_scores.py REPORT.json...", file=sys.stderr)
        return 2
    for path in paths:
        print("\n".join(summarise(Path(path))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
