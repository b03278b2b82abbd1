"""The front page and the docs: every relative link and image resolves, nothing points
outside the repository, and the README stays a front page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http(s):, mailto: ...
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert path.exists(), f"{page.name} links to a missing file: {target}"
    assert "PAPER" not in text, f"{page.name} cites a page outside the project"


def test_readme_is_a_front_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    head = text.split("##")[0]
    assert "make demo" in head and "make test" in head
    assert LINK.search(head) and "![" in head, "a sample grid belongs at the top"
    for page in ("docs/training.md", "docs/classify.md", "docs/latent.md", "docs/reproduce.md"):
        assert f"({page})" in text, f"README does not link {page}"
