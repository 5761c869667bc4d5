"""WeChat's XML: flat ``<xml><Tag>value</Tag>…</xml>`` documents in both directions."""

import re
import xml.etree.ElementTree as ET

#: WeChat never sends a DTD; refusing one rules out entity-expansion and external-entity tricks.
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class WireError(ValueError):
    """A body that is not a WeChat XML message."""


def parse_xml(body: bytes) -> dict[str, str]:
    """The top-level fields of a WeChat XML document (nested elements keep their text only)."""
    if _DTD.search(body):
        raise WireError("XML with a DTD")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise WireError(f"malformed XML: {error}") from error
    if root.tag != "xml":
        raise WireError(f"root element <{root.tag}>, expected <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


def cdata(value: str) -> str:
    # "]]>" would end the section early; split it across two sections.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(*, to_user: str, from_user: str, create_time: int, content: str) -> str:
    """A passive text reply (被动回复) to the user who wrote."""
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )


def encrypted_envelope(*, encrypted: str, signature: str, timestamp: str, nonce: str) -> str:
    """A safe-mode reply: the encrypted reply XML and its signature."""
    return (
        f"<xml><Encrypt>{cdata(encrypted)}</Encrypt><MsgSignature>{cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
    )
