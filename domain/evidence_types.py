"""What an uploaded 证明材料 is, judged by its bytes (never its name), and a file name safe to keep.

Only formats a reviewer opens in a viewer are accepted; nothing a browser would run (HTML, SVG, script).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile

import olefile

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
TEXT = "text/plain; charset=utf-8"

ACCEPTED = frozenset({PDF, JPEG, PNG, DOCX, XLSX, PPTX, DOC, XLS, TEXT})

# OOXML: the main part's content type, as declared in [Content_Types].xml, and the part's usual
# name. Macro-enabled (docm/xlsm/pptm) and template types declare other content types, so they
# are refused rather than passed off as plain documents.
_OOXML = (
    (DOCX, b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", "word/"),
    (XLSX, b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", "xl/"),
    (PPTX, b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml", "ppt/"),
)
_CONTENT_TYPES_MAX = 1 << 20  # a real one is a few KiB; a bigger one is a decompression trap

_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Text: C0 controls except tab, LF, CR; DEL; C1 controls (as domain.text refuses in typed text).
_TEXT_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Markup a browser would render or run if it ever sniffed past text/plain (old browsers, a
# missing nosniff header, a download opened locally). Chinese prose has no reason to contain these.
_MARKUP = re.compile(
    r"<\s*(?:script|html|svg|!doctype|\?xml|iframe|object|embed|body|head|meta|style|xsl|math)\b",
    re.IGNORECASE,
)


def sniff(data: bytes) -> str | None:
    """The media type of an accepted evidence file (one of ACCEPTED), or None when it is refused."""
    if not data:
        return None  # an empty file proves nothing and has no type
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    # A PNG must begin with its IHDR chunk (length 13); the signature alone is 8 guessable bytes.
    if data.startswith(_PNG_SIGNATURE) and data[8:16] == b"\x00\x00\x00\x0dIHDR":
        return PNG
    if data.startswith(b"PK\x03\x04"):
        # Zip archives are only accepted as Office documents; other zips (and a zip appended to
        # something else, which zipfile would also open from its end) are refused.
        return _ooxml(data)
    if data.startswith(_OLE2_SIGNATURE):
        return _ole2(data)
    return _text(data)


def _ooxml(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            try:
                info = archive.getinfo("[Content_Types].xml")
            except KeyError:
                return None
            if info.file_size > _CONTENT_TYPES_MAX:
                return None
            content_types = archive.read(info)
            names = archive.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, NotImplementedError, EOFError):
        # Corrupt, encrypted or using a compression method zipfile lacks: not a usable document.
        return None
    for media_type, main_content_type, folder in _OOXML:
        if main_content_type in content_types and any(name.startswith(folder) for name in names):
            return media_type
    return None


def _ole2(data: bytes) -> str | None:
    # Always a file object: olefile treats a *short* bytes value as a path to open.
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            if ole.exists("Macros") or ole.exists("_VBA_PROJECT_CUR") or ole.exists("_VBA_PROJECT"):
                return None  # legacy macros: evidence has no need to run code
            if ole.exists("WordDocument"):
                return DOC
            if ole.exists("Workbook") or ole.exists("Book"):  # BIFF8, and BIFF5 (Excel 5/95)
                return XLS
    except Exception:  # olefile raises OSError and assorted errors on malformed directories
        return None
    # PowerPoint 97 (not accepted), MSI installers, encrypted OOXML packages ... all OLE2 too.
    return None


def _text(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8-sig")  # strict: invalid UTF-8 (UTF-16, GBK, binaries) is refused
    except UnicodeDecodeError:
        return None
    if _TEXT_FORBIDDEN.search(text):
        return None
    if text.lstrip().startswith("<") or _MARKUP.search(text):
        return None
    return TEXT


# File names -------------------------------------------------------------------------------------

FALLBACK_NAME = "证明材料"
MAX_NAME_LENGTH = 200
# Characters Windows will not save (the name comes back as a download on the office's PCs).
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)
# Control (Cc), format (Cf: bidi overrides such as U+202E, zero-width characters, BOM), surrogates
# (Cs) and line/paragraph separators: invisible or misleading in a name shown to people.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _is_space(ch: str) -> bool:
    # Not str.isspace: that also counts the C0 separators \x1c-\x1f, which are junk, not spaces.
    return ch in "\t\n\r\v\f" or unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def safe_filename(name: str) -> str:
    """A file name fit to store and show: last path part only, no control/bidi characters, ≤200 chars."""
    name = unicodedata.normalize("NFC", name or "")
    # Both separators: a name from a Windows browser can carry C:\Users\...\x.pdf.
    name = re.split(r"[/\\]", name)[-1]
    # Line breaks and tabs become spaces (they separated words); other invisible characters go.
    name = "".join(
        " " if _is_space(ch) else ch
        for ch in name
        if _is_space(ch) or unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    name = _WINDOWS_FORBIDDEN.sub("_", name)
    name = re.sub(r" {2,}", " ", name).strip(" ").rstrip(".").strip(" ")
    if name.startswith("."):
        # ".pdf" or "..pdf": keep the extension but give it a visible name.
        name = FALLBACK_NAME + "." + name.lstrip(".")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.upper() in _WINDOWS_RESERVED:
        name = "_" + name
    if len(name) > MAX_NAME_LENGTH:
        # Cut the stem, not the extension, so the file still opens with the right program.
        if dot and 0 < len(ext) <= 16:
            name = stem[: MAX_NAME_LENGTH - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_NAME_LENGTH].rstrip(" .")
    return name or FALLBACK_NAME


# References -------------------------------------------------------------------------------------

FILE_PREFIX = "sha256:"  # an evidence list entry naming an uploaded file: "sha256:<64 lowercase hex>"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(text: str) -> bool:
    return bool(_SHA256.fullmatch(text or ""))


def file_reference(sha256: str) -> str:
    return FILE_PREFIX + sha256


def referenced_file(entry: str) -> str | None:
    """The sha256 an evidence entry names, or None for a free-text reference ("请假条（纸质）").

    An entry that starts with the prefix names a file even when its hash is malformed, so a
    typo is refused rather than kept as free text.
    """
    if isinstance(entry, str) and entry.strip().lower().startswith(FILE_PREFIX):
        return entry.strip()[len(FILE_PREFIX):].lower()
    return None
