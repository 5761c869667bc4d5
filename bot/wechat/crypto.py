"""WeChat request signatures and safe-mode (安全模式) message encryption.

Signatures are the SHA1 of the sorted, concatenated strings (token, timestamp, nonce and, in safe
mode, the encrypted message). Safe mode is AES-256-CBC with key = base64(EncodingAESKey + "="),
IV = the key's first 16 bytes, and plaintext = 16 random bytes + 4-byte big-endian length +
message + AppID, PKCS#7-padded to 32-byte blocks (not AES's 16: WeChat's own choice).
"""

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32
AES_KEY_CHARS = 43


class SignatureError(Exception):
    """The request was not signed with our token."""


class PayloadError(Exception):
    """An encrypted message that does not decrypt to a message for our AppID."""


def signature(*parts: str) -> str:
    """WeChat's signature: SHA1 over the sorted parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(given: str, *parts: str) -> None:
    """Raise SignatureError unless ``given`` signs ``parts``; compares in constant time."""
    if not given or not hmac.compare_digest(given.lower().encode(), signature(*parts).encode()):
        raise SignatureError("signature mismatch")


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    amount = block - len(data) % block
    return data + bytes([amount]) * amount


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    if not data:
        raise PayloadError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= block or data[-amount:] != bytes([amount]) * amount:
        raise PayloadError("bad padding")
    return data[:-amount]


class MessageCrypto:
    """Encrypt and decrypt safe-mode messages of one Official Account."""

    def __init__(self, *, token: str, aes_key: str, appid: str) -> None:
        if len(aes_key) != AES_KEY_CHARS:
            raise ValueError(f"an EncodingAESKey has {AES_KEY_CHARS} characters, not {len(aes_key)}")
        try:
            self._key = base64.b64decode(aes_key + "=", validate=True)
        except binascii.Error as error:
            raise ValueError("the EncodingAESKey is not base64") from error
        self.token = token
        self.appid = appid.encode()

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def decrypt(self, encrypted: str) -> bytes:
        """The message XML inside ``encrypted`` (base64), checked to be for our AppID."""
        try:
            sealed = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as error:
            raise PayloadError("not base64") from error
        if not sealed or len(sealed) % 16:
            raise PayloadError("not whole AES blocks")
        decryptor = self._cipher().decryptor()
        plain = pkcs7_unpad(decryptor.update(sealed) + decryptor.finalize())
        if len(plain) < 20:
            raise PayloadError("too short")
        length = int.from_bytes(plain[16:20], "big")
        message, appid = plain[20 : 20 + length], plain[20 + length :]
        if len(message) != length or not hmac.compare_digest(appid, self.appid):
            raise PayloadError("not a message for this AppID")
        return message

    def encrypt(self, message: bytes, *, prefix: bytes | None = None) -> str:
        """``message`` sealed for WeChat (base64); ``prefix`` fixes the 16 random bytes in tests."""
        head = prefix if prefix is not None else os.urandom(16)
        plain = head + len(message).to_bytes(4, "big") + message + self.appid
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()).decode()

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return signature(self.token, timestamp, nonce, encrypted)
