"""The file types evidence may have, each known by its first bytes (its magic bytes): a file's
bytes must match its declared type. The API, the workers and the configuration's allow-list
(EVIDENCE_ALLOWED_TYPES may name only a type known here) read them."""

from __future__ import annotations

# (offset, bytes) runs that must all match, one tuple per accepted variant of the format.
SIGNATURES: dict[str, tuple[tuple[tuple[int, bytes], ...], ...]] = {
    "application/pdf": (((0, b"%PDF-"),),),
    "image/png": (((0, b"\x89PNG\r\n\x1a\n"),),),
    "image/jpeg": (((0, b"\xff\xd8\xff"),),),
    "image/gif": (((0, b"GIF87a"),), ((0, b"GIF89a"),)),
    "image/webp": (((0, b"RIFF"), (8, b"WEBP")),),
    "image/tiff": (((0, b"II*\x00"),), ((0, b"MM\x00*"),)),
}
SIGNATURE_BYTES = 16


def matches_signature(content_type: str, head: bytes) -> bool:
    variants = SIGNATURES.get(content_type, ())
    return any(all(head[at : at + len(magic)] == magic for at, magic in variant) for variant in variants)
