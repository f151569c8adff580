"""The README and the manual in docs/ hold together on a code host: every relative link and
image names a file of the repository, every #anchor a heading of its page (GitHub's slugs),
every docs page is reachable from the README, and the README stays a front page (issue #24).
Offline: external links are not followed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+).*?\1")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, where Markdown renders links and headings."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: link text kept, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file, a repeated heading numbered -1, -2, ... as GitHub does."""
    found, counts = set(), {}
    for line in prose_lines(path.read_text("utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[str]:
    return [m.group(1) for line in prose_lines(path.read_text("utf-8"))
            for m in LINK.finditer(INLINE_CODE.sub("", line))]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of `path` whose file is missing, lies outside the repository, or whose anchor is not a heading."""
    problems = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # http(s), mailto: not followed offline
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.is_relative_to(root):
            problems.append(f"{path.name}: {target} points outside the repository")
        elif not dest.exists():
            problems.append(f"{path.name}: {target}: no such file")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            problems.append(f"{path.name}: {target}: no heading with that anchor")
    return problems


def test_every_relative_link_and_anchor_resolves():
    problems = [p for page in pages() for p in broken_links(page)]
    assert problems == []


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(ROOT / "README.md")}
    assert [p.name for p in pages()[1:] if p.resolve() not in linked] == []


def test_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text("utf-8").splitlines()) <= 250


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "b.md").write_text("# Call-detail records (`records`)\n## Who said it\n## Who said it\n", "utf-8")
    page = tmp_path / "a.md"
    page.write_text("[ok](b.md#call-detail-records-records) [ok](b.md#who-said-it-1) [gone](c.md)\n"
                    "[no](b.md#nowhere) `[code](d.md)`\n```\n[fenced](e.md)\n```\n[up](../x.md)\n", "utf-8")
    assert broken_links(page, tmp_path) == ["a.md: c.md: no such file", "a.md: b.md#nowhere: no heading with that anchor",
                                  "a.md: ../x.md points outside the repository"]
