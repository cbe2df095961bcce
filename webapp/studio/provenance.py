"""Provenance labels written into every studio result: PNG text, JPEG XMP, MP4 tags.

A result says it is synthetic in its own metadata, readable by common tools: the IPTC digital
source type (`compositeSynthetic`), a plain `Synthetic: true` and a sentence naming the effect.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

SOFTWARE = "Face Platform studio"
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic"


def tags(effect: str, description: str | None = None) -> dict[str, str]:
    """The provenance fields of a result made by `effect` (its own sentence, see
    `Effect.description_line`)."""
    description = description or f"Synthetic media made by {SOFTWARE} ({effect})."
    return {
        "synthetic": "true",
        "comment": description,
        "description": description,
        "digital_source_type": DIGITAL_SOURCE_TYPE,
        "software": SOFTWARE,
        "effect": effect,
    }


def xmp_packet(fields: dict[str, str]) -> bytes:
    """An XMP packet with the IPTC digital source type and the description."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        f'    Iptc4xmpExt:DigitalSourceType="{escape(fields["digital_source_type"])}"\n'
        f'    xmp:CreatorTool="{escape(fields["software"])}">\n'
        "   <dc:description><rdf:Alt>"
        f'<rdf:li xml:lang="x-default">{escape(fields["description"])}</rdf:li>'
        "</rdf:Alt></dc:description>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def save_image(rgb: np.ndarray, path: Path, content_type: str, fields: dict[str, str]) -> None:
    """Write a result image (JPEG with XMP, or PNG with text chunks and XMP) to `path`."""
    image = Image.fromarray(np.ascontiguousarray(rgb))
    xmp = xmp_packet(fields)
    if content_type == "image/jpeg":
        image.save(path, format="JPEG", quality=92, xmp=xmp)
        return
    info = PngInfo()
    info.add_text("Synthetic", fields["synthetic"])
    info.add_text("Description", fields["description"])
    info.add_text("Software", fields["software"])
    info.add_text("DigitalSourceType", fields["digital_source_type"])
    info.add_itxt("XML:com.adobe.xmp", xmp.decode())
    image.save(path, format="PNG", pnginfo=info)


def read_image_label(path: Path) -> dict[str, str]:
    """The provenance a result image carries (for tests and checks)."""
    with Image.open(path) as image:
        found = {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
        xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if xmp:
        found["xmp"] = xmp.decode() if isinstance(xmp, bytes) else str(xmp)
    return found
