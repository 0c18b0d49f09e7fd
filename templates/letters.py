"""Printed letters as PDF (fpdf2): the school's letterhead and one A4 page per family.

The words come from ``<lang>/letter_*.j2`` like every other text; this module only lays them out.
Fonts: DejaVu Sans, shipped in ``fonts/`` (see fonts/LICENSE), so any Indonesian name prints on
any machine. QR codes are drawn by segno as PNG images.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from templates.render import label, render

if TYPE_CHECKING:  # fpdf2 and segno load when a letter is drawn, not when the server starts
    from fpdf import FPDF

FONTS = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVu"
MARGIN = 20  # mm
QR_SIZE = 42  # mm: scans easily from a printed page


def _pdf() -> FPDF:
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(MARGIN, 15, MARGIN)
    pdf.set_auto_page_break(False)
    pdf.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_creator("Jembatan")
    return pdf


def letterhead(pdf: FPDF, head: dict[str, Any] | None, school_name: str) -> None:
    """The school's kop surat: logo, name, address and contacts, and a double rule beneath."""
    head = head or {}
    top = pdf.get_y()
    if head.get("logo_png"):
        pdf.image(io.BytesIO(base64.b64decode(head["logo_png"])), x=MARGIN, y=top, h=22)
    pdf.set_font(FONT, "B", 15)
    pdf.cell(0, 8, head.get("name") or school_name, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    address = ", ".join(part for part in (head.get("address"), head.get("city")) if part)
    contact = "  ·  ".join(part for part in (
        f"Telp. {head['phone']}" if head.get("phone") else "", head.get("email") or "") if part)
    for line in (address, contact):
        if line:
            pdf.cell(0, 5, line, align="C", new_x="LMARGIN", new_y="NEXT")
    y = max(pdf.get_y(), top + (22 if head.get("logo_png") else 0)) + 2
    pdf.set_line_width(0.8)
    pdf.line(MARGIN, y, pdf.w - MARGIN, y)
    pdf.set_line_width(0.2)
    pdf.line(MARGIN, y + 1.2, pdf.w - MARGIN, y + 1.2)
    pdf.set_y(y + 5)


def qr_png(url: str) -> io.BytesIO:
    """A QR code of ``url`` as a PNG, for a printed page."""
    out = io.BytesIO()
    import segno

    segno.make(url, error="m", micro=False).save(out, kind="png", scale=8, border=4)
    out.seek(0)
    return out


def _code_box(pdf: FPDF, context: dict[str, Any]) -> None:
    pdf.set_font(FONT, "", 10)
    pdf.cell(0, 5, label("id", "letter.code_label"), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 24)
    pdf.cell(0, 13, context["code"], border=1, align="C", new_x="LMARGIN", new_y="NEXT")


def _qr_codes(pdf: FPDF, context: dict[str, Any]) -> None:
    codes = [(label("id", "letter.telegram"), context.get("telegram_url")),
             (label("id", "letter.whatsapp"), context.get("whatsapp_url"))]
    codes = [(name, url) for name, url in codes if url]
    if not codes:
        return
    top = pdf.get_y()
    width = pdf.w - 2 * MARGIN
    slot = width / len(codes)
    for n, (name, url) in enumerate(codes):
        x = MARGIN + n * slot + (slot - QR_SIZE) / 2
        pdf.image(qr_png(url), x=x, y=top, w=QR_SIZE, h=QR_SIZE, alt_text=url)
        pdf.set_xy(MARGIN + n * slot, top + QR_SIZE)
        pdf.set_font(FONT, "B", 10)
        pdf.cell(slot, 5, name, align="C")
        pdf.set_xy(MARGIN + n * slot, top + QR_SIZE + 5)
        pdf.set_font(FONT, "", 8)
        pdf.cell(slot, 4, label("id", "letter.scan"), align="C")
    pdf.set_xy(MARGIN, top + QR_SIZE + 11)


def _body(pdf: FPDF, text: str, context: dict[str, Any]) -> None:
    width = pdf.w - 2 * MARGIN
    for block in text.split("\n\n"):
        block = block.strip("\n")
        if not block.strip():
            continue
        if block == "[[CODE]]":
            _code_box(pdf, context)
        elif block == "[[QR]]":
            _qr_codes(pdf, context)
        elif block.startswith("# "):
            pdf.set_font(FONT, "B", 13)
            pdf.multi_cell(width, 7, block[2:], align="C", new_x="LMARGIN", new_y="NEXT")
        elif block.startswith("> "):
            pdf.set_font(FONT, "", 10.5)
            for line in block.splitlines():
                pdf.cell(0, 5.5, line[2:], new_x="LMARGIN", new_y="NEXT")
        elif block == context.get("place_date"):
            pdf.set_font(FONT, "", 10)
            pdf.cell(0, 5, block, align="R", new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font(FONT, "", 10)
            pdf.multi_cell(width, 5, block, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2.5)


def _signature(pdf: FPDF, head: dict[str, Any] | None) -> None:
    head = head or {}
    if not head.get("principal"):
        return
    x = pdf.w - MARGIN - 70
    pdf.set_font(FONT, "", 10)
    pdf.set_x(x)
    pdf.cell(70, 5, label("id", "letter.principal"), new_x="LEFT", new_y="NEXT")
    pdf.ln(14)
    pdf.set_x(x)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(70, 5, head["principal"], new_x="LEFT", new_y="NEXT")
    if head.get("principal_nip"):
        pdf.set_font(FONT, "", 9)
        pdf.cell(70, 5, f"{label('id', 'letter.nip')} {head['principal_nip']}")


def enrolment_letters(letters: list[dict[str, Any]], out: Path) -> int:
    """Write one page per letter context to ``out``; returns the number of pages. Each context
    carries its school's ``letterhead`` (may be empty) and ``school_name``."""
    pdf = _pdf()
    names = sorted({context["school_name"] for context in letters})
    pdf.set_title(f"Surat pendaftaran Jembatan — {', '.join(names)}")
    for context in letters:
        pdf.add_page()
        letterhead(pdf, context.get("letterhead"), context["school_name"])
        _body(pdf, render("id", "letter_enrolment", context), context)
        _signature(pdf, context.get("letterhead"))
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return pdf.pages_count
