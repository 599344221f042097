"""Small real documents for the RAG tests (English, Korean, PDF, DOCX, HTML, broken files)."""

from __future__ import annotations

import zipfile
from pathlib import Path

HERON_EN = """# Herons

## Feeding

The grey heron hunts fish by standing motionless in shallow water and striking with its long bill.
It also eats frogs, small mammals and insects. Herons often hunt at dawn and dusk.

## Nesting

Grey herons nest in colonies called heronries, usually high in tall trees near water.
A heronry can hold dozens of nests that are reused and enlarged every year.
"""

KIMCHI_KO = """# 김치

## 담그는 법

배추를 소금에 절인 뒤 고춧가루, 마늘, 생강, 젓갈로 만든 양념을 골고루 바른다. 양념한 배추는 항아리에 담아
서늘한 곳에서 발효시킨다.

## 보관

김치는 낮은 온도에서 천천히 익힐수록 맛이 좋다. 요즘은 김치냉장고에 보관하는 집이 많다.
"""

VOLCANO_TXT = (
    "Volcanoes form where magma rises through the crust. Shield volcanoes, such as those of Hawaii, "
    "have gentle slopes built by fluid basalt lava.\n\n"
    "Stratovolcanoes are steep cones of alternating lava and ash layers; their eruptions can be explosive."
)

LIBRARY_HTML = """<html><head><title>City library</title></head><body>
<nav>Home | About</nav>
<h1>City library</h1>
<p>The city library opens at nine in the morning and closes at eight in the evening on weekdays.</p>
<p>Members may borrow up to twelve books for three weeks.</p>
<script>var tracking = 1;</script>
</body></html>
"""


def pdf_bytes(pages: list[str]) -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page (byte offsets computed)."""
    objects: list[bytes] = []
    n_pages = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    font_id = 3 + 2 * n_pages
    for i, text in enumerate(pages):
        content_id = 4 + 2 * i
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def docx_file(path: Path, paragraphs: list[str]) -> Path:
    """A minimal .docx (the WordprocessingML parts docx2txt reads)."""
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    )
    types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        "</Types>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="word/document.xml"/></Relationships>'
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr("_rels/.rels", rels)
        z.writestr("word/document.xml", document)
    return path


def write_corpus(root: Path) -> Path:
    """A folder with one document of each readable kind."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "herons.md").write_text(HERON_EN, encoding="utf-8")
    (root / "kimchi.md").write_text(KIMCHI_KO, encoding="utf-8")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "volcanoes.txt").write_text(VOLCANO_TXT, encoding="utf-8")
    (root / "library.html").write_text(LIBRARY_HTML, encoding="utf-8")
    (root / "comets.pdf").write_bytes(
        pdf_bytes(
            ["Comets are icy bodies that grow tails near the Sun.", "Halley's comet returns every 76 years."]
        )
    )
    docx_file(
        root / "tea.docx",
        ["Green tea is steamed or pan-fired soon after picking.", "Black tea is fully oxidised."],
    )
    return root
