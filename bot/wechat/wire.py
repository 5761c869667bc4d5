"""WeChat's XML: flat ``<xml><Tag>value</Tag>…</xml>`` documents in both directions."""

import xml.etree.ElementTree as ET

import defusedxml
import defusedxml.ElementTree as SafeET


class WireError(ValueError):
    """A body that is not a WeChat XML message."""


def parse_xml(body: bytes) -> dict[str, str]:
    """The top-level fields of a WeChat XML document (nested elements keep their text only).

    WeChat never sends a DTD. defusedxml refuses any (and any entity) after the parser has decoded
    the document, so a DTD hidden in UTF-16 or another declared encoding is refused as well.
    """
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as error:
        raise WireError(f"XML with a DTD or entities: {type(error).__name__}") from error
    except (ET.ParseError, ValueError, LookupError) as error:  # malformed, or an unknown encoding
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
