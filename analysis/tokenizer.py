"""jieba, loaded once per process with the domain dictionary, shared by every thread."""

import os
import threading
from importlib import resources
from pathlib import Path

import jieba

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def cache_dir() -> Path:
    """A writable per-user cache folder (jieba writes its prefix-dictionary cache there)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "minqing"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"minqing-{os.getuid()}"
        path.mkdir(parents=True, exist_ok=True)
    return path


def _user_dictionary() -> list[str]:
    text = resources.files("analysis").joinpath("data/userdict.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def get_tokenizer() -> jieba.Tokenizer:
    """The process-wide tokenizer, initialised on first call (about one second)."""
    global _tokenizer
    if _tokenizer is not None:
        return _tokenizer
    with _lock:
        if _tokenizer is None:
            jieba.setLogLevel(40)  # its "Building prefix dict" chatter would land on stderr per process
            tokenizer = jieba.Tokenizer()
            tokenizer.tmp_dir = str(cache_dir())
            tokenizer.initialize()
            for line in _user_dictionary():
                word, *rest = line.split()
                freq = int(rest[0]) if rest and rest[0].isdigit() else None
                tag = rest[1] if len(rest) > 1 else None
                tokenizer.add_word(word, freq, tag)
            _tokenizer = tokenizer
    return _tokenizer


def initialise() -> None:
    """Load the dictionary now, at start-up, rather than inside the first message."""
    get_tokenizer()


def tokenize(text: str) -> list[str]:
    """Words of ``text`` without whitespace tokens."""
    return [token for token in get_tokenizer().lcut(text) if token.strip()]
