"""Reading what a PDF shows: its extracted text, the glyphs it draws (with their fonts) and where
a string sits on the page. For the prescription PDF's tests; the invoice's keep their own.

Why glyphs: a PDF maps each glyph to text once per font (ToUnicode), and Devanagari shaping
reorders and fuses letters (the i-matra drawn before its consonant, the reph above the next
one), so WeasyPrint's map reads Hindi back garbled ('दवा' comes out as 'दिव'). For Hindi the
tests compare what the reader sees instead: the exact glyph sequence HarfBuzz shapes for the
string alone, with the same fonts and stylesheet, must appear in the document."""

from __future__ import annotations

import io
from html import escape
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from pypdf.generic import ContentStream


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _font_names(resources: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for key, ref in (resources.get("/Font") or {}).items():
        # "ABCDEF+Medivoy-Devanagari-Bold": the subset tag removed.
        names[key] = str(ref.get_object()["/BaseFont"]).lstrip("/").split("+", 1)[-1]
    return names


def shown_glyphs(pdf: bytes) -> list[tuple[str, int]]:
    """Every glyph the pages draw, in content order, with the name of its font (WeasyPrint
    writes Identity-H fonts: two bytes per glyph id)."""
    reader = PdfReader(io.BytesIO(pdf))
    shown: list[tuple[str, int]] = []

    def walk(contents: Any, resources: Any) -> None:
        fonts = _font_names(resources)
        current: str | None = None
        for operands, operator in ContentStream(contents, reader).operations:
            if operator == b"Tf":
                current = fonts[operands[0]]
            elif operator in (b"Tj", b"TJ", b"'", b'"'):
                strings = operands[0] if operator == b"TJ" else operands[-1:]
                for item in strings:
                    if isinstance(item, bytes | str) and current is not None:
                        data = bytes(getattr(item, "original_bytes", item))
                        shown.extend(
                            (current, int.from_bytes(data[i : i + 2], "big"))
                            for i in range(0, len(data), 2)
                        )
            elif operator == b"Do":
                xobject = resources["/XObject"][operands[0]].get_object()
                if xobject.get("/Subtype") == "/Form":
                    walk(xobject, xobject.get("/Resources", resources))

    for page in reader.pages:
        walk(page.get_contents(), page["/Resources"])
    return shown


def shaped(
    text: str, locale: str, *, stylesheet: Path, bold: bool, fetcher: Any
) -> list[tuple[str, int]]:
    """The glyphs WeasyPrint draws for `text` alone, with this stylesheet and language."""
    from weasyprint import HTML

    html = (
        f'<html lang="{locale}"><head><link rel="stylesheet" href="{stylesheet.name}"></head>'
        f'<body><div style="font-weight: {700 if bold else 400}">{escape(text)}</div></body></html>'
    )
    pdf = HTML(
        string=html, base_url=stylesheet.parent.as_uri() + "/", url_fetcher=fetcher
    ).write_pdf()
    assert isinstance(pdf, bytes)
    return shown_glyphs(pdf)


def contains_run(haystack: list[tuple[str, int]], needle: list[tuple[str, int]]) -> bool:
    size = len(needle)
    return size > 0 and any(
        haystack[i : i + size] == needle for i in range(len(haystack) - size + 1)
    )


def x_of(pdf: bytes, text: str) -> float:
    """Where `text` starts across the first page, from 0 (left edge) to 1 (right edge)."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    found: list[float] = []

    def visit(chunk: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if text in chunk:
            found.append(cm[0] * tm[4] + cm[2] * tm[5] + cm[4])

    page.extract_text(visitor_text=visit)
    assert found, f"{text!r} not found"
    return found[0] / float(page.mediabox.width)
