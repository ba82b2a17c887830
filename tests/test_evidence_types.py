"""Evidence files are judged by content: tiny real samples made here, accepted and refused."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import openpyxl
import pytest

from domain.evidence_types import DOC, DOCX, JPEG, PDF, PNG, PPTX, TEXT, XLS, XLSX, safe_filename, sniff

MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32 + b"\xff\xd9"


def xlsx_bytes() -> bytes:
    wb = openpyxl.Workbook()
    wb.active["A1"] = "证明材料"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def ooxml_bytes(main_part: str, main_type: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/{main_part}" ContentType="{main_type}"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/officeDocument" Target="{main_part}"/></Relationships>',
        )
        z.writestr(main_part, "<x/>")
    return out.getvalue()


def docx_bytes() -> bytes:
    return ooxml_bytes("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")


def ole2_bytes(*stream_names: str) -> bytes:
    """A minimal Compound File (v3, 512-byte sectors): header, one FAT sector, one directory sector."""
    free, end, fat_sect, nostream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16
    header += struct.pack("<HHHHH6sIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, b"\x00" * 6, 0, 1, 1, 0, 4096, end, 0, end, 0)
    header += struct.pack("<I", 0) + struct.pack("<I", free) * 108
    assert len(header) == 512
    fat = struct.pack("<II", fat_sect, end) + struct.pack("<I", free) * 126

    def entry(name: str, kind: int, left=nostream, right=nostream, child=nostream) -> bytes:
        encoded = (name + "\x00").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBBIII", len(encoded), kind, 1, left, right, child)
            + b"\x00" * 16 + b"\x00" * 4 + b"\x00" * 16
            + struct.pack("<IQ", end, 0)
        )

    assert len(stream_names) <= 3
    # Root's child is the first stream; the others hang to its right (a valid, if lopsided, tree).
    entries = [entry("Root Entry", 5, child=1 if stream_names else nostream)]
    for i, name in enumerate(stream_names, start=1):
        entries.append(entry(name, 2, right=i + 1 if i < len(stream_names) else nostream))
    while len(entries) < 4:
        entries.append(b"\x00" * 64 + struct.pack("<HBBIII", 0, 0, 0, nostream, nostream, nostream) + b"\x00" * 48)
    directory = b"".join(entries)
    assert len(directory) == 512
    return header + fat + directory


@pytest.mark.parametrize(
    "data, expected",
    [
        (MINIMAL_PDF, PDF),
        (png_bytes(), PNG),
        (JPEG_BYTES, JPEG),
        (xlsx_bytes(), XLSX),
        (docx_bytes(), DOCX),
        (ooxml_bytes("ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"), PPTX),
        (ole2_bytes("WordDocument"), DOC),
        (ole2_bytes("\x05SummaryInformation", "Workbook"), XLS),
        ("2024 年度工会工作总结：开展活动 3 项。\r\n\t第二行".encode(), TEXT),
        ("\ufeff带 BOM 的说明 a < b".encode("utf-8"), TEXT),
    ],
    ids=["pdf", "png", "jpeg", "xlsx", "docx", "pptx", "doc", "xls", "text", "text-bom"],
)
def test_accepted(data, expected):
    assert sniff(data) == expected


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("readme.txt", "hello")
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56,
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff",
        b"<!DOCTYPE html><html><body>hi</body></html>",
        b"   \n<html><script>alert(1)</script></html>",
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'.encode(),
        "说明文字\n<script>alert(1)</script>".encode(),
        "说明\n< SVG onload=x>".encode(),
        "\ufeff<html>".encode("utf-8"),
        b'<?xml version="1.0"?><x/>',
        plain_zip(),
        b"junk before" + xlsx_bytes(),  # a zip appended to other bytes
        ooxml_bytes("word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml"),  # docm
        ole2_bytes("PowerPoint Document"),  # ppt: not on the list
        ole2_bytes("WordDocument", "Macros"),  # doc with macros
        ole2_bytes("EncryptionInfo", "EncryptedPackage"),  # password-protected OOXML
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,  # broken OLE2
        b"PK\x03\x04broken",
        b"\x89PNG\r\n\x1a\n",  # signature with no IHDR
        "GBK 编码".encode("gbk"),
        "UTF-16".encode("utf-16"),
        b"text with NUL\x00inside",
        b"text with ESC\x1b[31m",
        "C1 control \u0085".encode(),
    ],
)
def test_refused(data):
    assert sniff(data) is None


def test_short_ole2_bytes_are_never_taken_for_a_path(tmp_path):
    # olefile treats short bytes as a file name; sniff must only ever look at the bytes given.
    assert sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") is None


@pytest.mark.parametrize(
    "name, expected",
    [
        ("2024年度总结.pdf", "2024年度总结.pdf"),
        ("C:\\Users\\张三\\Desktop\\会议记录.docx", "会议记录.docx"),
        ("../../etc/passwd", "passwd"),
        ("报告\u202egpj.exe", "报告gpj.exe"),  # right-to-left override dropped
        ("零\u200b宽.txt", "零宽.txt"),
        ("a\x00b\x1f.txt", "ab.txt"),
        ("第一行\n第二行.txt", "第一行 第二行.txt"),
        ('名称: "x" <y>?.pdf', "名称_ _x_ _y__.pdf"),
        (".pdf", "证明材料.pdf"),
        ("...", "证明材料"),
        ("", "证明材料"),
        ("  /  ", "证明材料"),
        ("\u202e", "证明材料"),
        ("CON.txt", "_CON.txt"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


def test_safe_filename_length_keeps_extension():
    long = "很长的文件名" * 50 + ".xlsx"
    result = safe_filename(long)
    assert len(result) == 200
    assert result.endswith(".xlsx") and result.startswith("很长的文件名")
    assert len(safe_filename("字" * 500)) == 200


def test_safe_filename_normalises_to_nfc():
    assert safe_filename("e\u0301.pdf") == "\u00e9.pdf"
