"""The counselor's printed papers as PDF (fpdf2): official meeting letters (surat undangan /
surat panggilan) on the school's letterhead, the student's case book, the month's BK report.

The words come from ``<lang>/letter_meeting.j2``, ``casebook.j2`` and ``bk_month.j2`` like every
other text; this module only lays them out. Blocks are separated by blank lines: "# " starts a
heading, "> " a line of a tight block, "[[QR]]" marks the QR codes, "[[SIGN]]" the signature.
Fonts: DejaVu Sans in ``fonts/`` (see fonts/LICENSE), so every Indonesian name prints anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF

from templates.letters import letterhead, qr_png
from templates.render import render, words

FONTS = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVu"
MARGIN = 20  # mm
QR_SIZE = 32  # mm


def _pdf(title: str) -> FPDF:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(MARGIN, 15, MARGIN)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_creator("Jembatan")
    pdf.set_title(title)
    return pdf


def _qr_codes(pdf: FPDF, context: dict[str, Any], labels: dict[str, str]) -> None:
    codes = [(labels["telegram"], context.get("telegram_url")), (labels["whatsapp"], context.get("whatsapp_url"))]
    codes = [(name, url) for name, url in codes if url]
    if not codes:
        return
    if pdf.get_y() + QR_SIZE + 12 > pdf.h - 15:
        pdf.add_page()
    top = pdf.get_y()
    slot = (pdf.w - 2 * MARGIN) / len(codes)
    for n, (name, url) in enumerate(codes):
        pdf.image(qr_png(url), x=MARGIN + n * slot + (slot - QR_SIZE) / 2, y=top, w=QR_SIZE, h=QR_SIZE,
                  alt_text=url)
        pdf.set_xy(MARGIN + n * slot, top + QR_SIZE)
        pdf.set_font(FONT, "B", 9)
        pdf.cell(slot, 5, name, align="C")
    pdf.set_xy(MARGIN, top + QR_SIZE + 7)


def _signature(pdf: FPDF, context: dict[str, Any], labels: dict[str, str]) -> None:
    if not context.get("principal"):
        return
    if pdf.get_y() + 35 > pdf.h - 15:
        pdf.add_page()
    x = pdf.w - MARGIN - 75
    pdf.set_font(FONT, "", 10)
    pdf.set_x(x)
    pdf.cell(75, 5, labels["principal"], new_x="LEFT", new_y="NEXT")
    pdf.ln(16)
    pdf.set_x(x)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(75, 5, context["principal"], new_x="LEFT", new_y="NEXT")
    if context.get("principal_nip"):
        pdf.set_font(FONT, "", 9)
        pdf.cell(75, 5, f"{labels['nip']} {context['principal_nip']}", new_x="LMARGIN", new_y="NEXT")


def _body(pdf: FPDF, text: str, context: dict[str, Any], labels: dict[str, str]) -> None:
    width = pdf.w - 2 * MARGIN
    for block in text.split("\n\n"):
        block = block.strip("\n")
        if not block.strip():
            continue
        if block == "[[QR]]":
            _qr_codes(pdf, context, labels)
        elif block == "[[SIGN]]":
            _signature(pdf, context, labels)
        elif block.startswith("# "):
            pdf.set_font(FONT, "B", 12)
            pdf.multi_cell(width, 6.5, block[2:], align="C", new_x="LMARGIN", new_y="NEXT")
        elif block.startswith("## "):
            pdf.set_font(FONT, "B", 10.5)
            pdf.multi_cell(width, 5.5, block[3:], new_x="LMARGIN", new_y="NEXT")
        elif block.startswith("> "):
            pdf.set_font(FONT, "", 10)
            for line in block.splitlines():
                pdf.multi_cell(width, 5, line[2:], new_x="LMARGIN", new_y="NEXT")
        elif block.startswith("-> "):
            pdf.set_font(FONT, "", 10)
            pdf.cell(0, 5, block[3:], align="R", new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font(FONT, "", 10)
            pdf.multi_cell(width, 5, block, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)


def _letters(letters: list[dict[str, Any]], head: dict[str, Any]) -> FPDF:
    labels = dict(words("id")["official_letter"])
    pdf = _pdf(f"Surat {head['name']}")
    for context in letters:
        pdf.add_page()
        letterhead(pdf, head, head.get("name", ""))
        _body(pdf, render("id", "letter_meeting", context), context, labels)
    return pdf


def meeting_letters_pdf(letters: list[dict[str, Any]], head: dict[str, Any], out: Path) -> int:
    """One page (or more) per family's letter, in Bahasa Indonesia; returns the page count."""
    pdf = _letters(letters, head)
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return pdf.pages_count


def meeting_letters_pdf_bytes(letters: list[dict[str, Any]], head: dict[str, Any]) -> bytes:
    return bytes(_letters(letters, head).output())


def _casebook(book: dict[str, Any], head: dict[str, Any], lang: str) -> FPDF:
    labels = dict(words(lang)["official_letter"])
    pdf = _pdf(f"Buku kasus {book['student']['name']}")
    pdf.add_page()
    letterhead(pdf, head, head.get("name", ""))
    _body(pdf, render(lang, "casebook", book), {}, labels)
    return pdf


def casebook_pdf(book: dict[str, Any], head: dict[str, Any], out: Path, *, lang: str = "id") -> int:
    """The student's case book, confidential, in time order."""
    pdf = _casebook(book, head, lang)
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return pdf.pages_count


def casebook_pdf_bytes(book: dict[str, Any], head: dict[str, Any], *, lang: str = "id") -> bytes:
    return bytes(_casebook(book, head, lang).output())


def monthly_report_pdf(context: dict[str, Any], head: dict[str, Any], *, lang: str = "id") -> bytes:
    """The month's BK report for the principal, as PDF bytes."""
    labels = dict(words(lang)["official_letter"])
    pdf = _pdf(f"Laporan BK {context['month']}")
    pdf.add_page()
    letterhead(pdf, head, head.get("name", ""))
    _body(pdf, render(lang, "bk_month", context), context, labels)
    return bytes(pdf.output())
