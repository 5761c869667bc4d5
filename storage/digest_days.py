"""The cases of each local day packed as column arrays, so a digest reads a quarter without a scan.

A digest needs most of a case's columns and several groupings of them (category, grid, officer,
address, household, keywords, reply times). Done in SQL that is five or six passes over the period;
done here it is one read of packed days (``DigestDay``) and a few numpy counts. A day is packed from
its cases once, stored by the digest job, and trusted only while it still matches the cases: the
day's case count and latest ``updated_at``, both read from the created_at index without touching
the table (``ix_case_created`` on (created_at, updated_at) on SQLite, ``ix_case_created_at`` on
created_at INCLUDE updated_at on PostgreSQL). A day is stored only when its cases have been quiet for
``QUIET`` — every later change then sets a newer ``updated_at``, and only the day's cases changed
since it was packed are read again (``patch_day``). Days never packed, or whose patch does not add
up, are packed from all their cases on the spot; both are stored when the caller saves the cache.
"""

import json
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from typing import Protocol, cast
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlmodel import Session

from storage.models import DigestDay

#: "No timestamp" in the µs-since-epoch arrays.
NO_TIME = np.iinfo(np.int64).min
#: A day is stored only if none of its cases changed within this long before the build.
QUIET = timedelta(minutes=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 3: each case's strongest emotion and whether its category is confirmed (issue 12);
# 4: whether the case was closed by each period's end (a satisfied rating closes it).
_FORMAT = 4

#: Text columns kept as codes into a per-day vocabulary (NULL, and an empty address, are -1).
TEXT_FIELDS = ("category", "intent", "polarity", "urgency", "rating", "address", "emotion", "confirmation")
ID_FIELDS = ("case", "community", "grid", "assignee", "household")
MINUTES = ("reply", "resolve")
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: The kinds of period a day belongs to, one each; a case's state at each of their ends is kept.
PERIODS = ("week", "month", "quarter")
# Bits of ``Facts.flags`` (k = index in PERIODS): resolved before the end, open past its
# resolution deadline at the end, first reply before the end; resolved by the deadline.
RESOLVED, OVERDUE, REPLIED, ON_TIME, CLOSED = 0, 3, 6, 9, 10


def first_day_of(kind: str, day: date) -> date:
    """The first day of the period of ``kind`` that contains ``day``."""
    if kind == "week":
        return day - timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    if kind == "quarter":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    raise ValueError(f"unknown digest kind {kind!r}")


def end_day_of(kind: str, day: date) -> date:
    """The first day after the period of ``kind`` that contains ``day``."""
    first = first_day_of(kind, day)
    if kind == "week":
        return first + timedelta(days=7)
    index = first.year * 12 + first.month - 1 + (1 if kind == "month" else 3)
    return date(index // 12, index % 12 + 1, 1)


def micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


@dataclass(slots=True)
class Facts:
    """Column arrays of some cases (one day, or a period's days joined), one entry per case."""

    ids: dict[str, IntArray]
    codes: dict[str, IntArray]
    vocab: dict[str, list[str]]
    #: Outcome bits at the end of each period the case's day belongs to (see ``RESOLVED`` ...).
    flags: IntArray
    #: Minutes to first reply and to resolution (NaN when none).
    minutes: dict[str, FloatArray]
    intensity: FloatArray
    #: Keyword occurrences: the case (row index) and the word (code into ``vocab["keyword"]``).
    keyword_case: IntArray
    keyword: IntArray

    @property
    def size(self) -> int:
        return int(self.intensity.shape[0])

    def closed(self, kind: str) -> NDArray[np.bool_]:
        """Closed before the end of the ``kind`` period (rated satisfied, rejected, merged, 未评价)."""
        closed: NDArray[np.bool_] = (self.flags >> (CLOSED + PERIODS.index(kind))) & 1 == 1
        return closed

    def outcome(self, kind: str) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
        """(resolved, resolved on time, open overdue, replied) at the end of the ``kind`` period."""
        k = PERIODS.index(kind)
        resolved = (self.flags >> (RESOLVED + k)) & 1 == 1
        on_time = resolved & ((self.flags >> ON_TIME) & 1 == 1)
        return resolved, on_time, (self.flags >> (OVERDUE + k)) & 1 == 1, (self.flags >> (REPLIED + k)) & 1 == 1

    def code_of(self, name: str, value: str) -> int:
        try:
            return self.vocab[name].index(value)
        except ValueError:
            return -2  # matches nothing, not even the -1 of "empty"

    # ------------------------------------------------------------------ packing

    def pack(self) -> bytes:
        # As narrow as the values allow (read back as int64): a quarter is 90 of these per read.
        arrays: list[tuple[str, NDArray[np.generic]]] = [
            *((f"i.{k}", _narrow(v)) for k, v in self.ids.items()),
            *((f"c.{k}", _narrow(v)) for k, v in self.codes.items()),
            ("flags", _narrow(self.flags)),
            # float32: minutes to within a few hundredths of a second, half the bytes.
            *((f"m.{k}", v.astype(np.float32)) for k, v in self.minutes.items()),
            ("intensity", self.intensity),
            ("keyword_case", _narrow(self.keyword_case)),
            ("keyword", _narrow(self.keyword)),
        ]
        header = json.dumps(
            {
                "format": _FORMAT,
                "vocab": self.vocab,
                "arrays": [[name, a.dtype.str, int(a.shape[0])] for name, a in arrays],
            },
            ensure_ascii=False,
        ).encode()
        return b"".join([struct.pack("<I", len(header)), header, *(a.tobytes() for _, a in arrays)])

    @classmethod
    def unpack(cls, raw: bytes) -> "Facts | None":
        """None for a packing this code does not read (it is then rebuilt)."""
        (length,) = struct.unpack_from("<I", raw)
        header = json.loads(raw[4 : 4 + length])
        if header.get("format") != _FORMAT:
            return None
        offset = 4 + length
        found: dict[str, NDArray[np.generic]] = {}
        for name, dtype, count in header["arrays"]:
            kind = np.dtype(dtype)
            found[name] = np.frombuffer(raw, dtype=kind, count=count, offset=offset)
            offset += kind.itemsize * count
        return cls(
            ids={k: found[f"i.{k}"].astype(np.int64, copy=False) for k in ID_FIELDS},
            codes={k: found[f"c.{k}"].astype(np.int64, copy=False) for k in TEXT_FIELDS},
            vocab={str(k): [str(w) for w in v] for k, v in header["vocab"].items()},
            flags=found["flags"].astype(np.int64),
            minutes={k: found[f"m.{k}"].astype(np.float64) for k in MINUTES},
            intensity=found["intensity"].astype(np.float64, copy=False),
            keyword_case=found["keyword_case"].astype(np.int64, copy=False),
            keyword=found["keyword"].astype(np.int64, copy=False),
        )


def _narrow(values: IntArray) -> NDArray[np.signedinteger]:
    if values.shape[0] == 0:
        return values.astype(np.int8)
    low, high = int(values.min()), int(values.max())
    for kind in (np.int8, np.int16, np.int32):
        info = np.iinfo(kind)
        if info.min <= low and high <= info.max:
            return values.astype(kind)
    return values


def empty_facts() -> Facts:
    nothing = np.zeros(0, dtype=np.int64)
    return Facts(
        ids={k: nothing for k in ID_FIELDS},
        codes={k: nothing for k in TEXT_FIELDS},
        vocab={k: [] for k in (*TEXT_FIELDS, "keyword")},
        flags=nothing,
        minutes={k: np.zeros(0, dtype=np.float64) for k in MINUTES},
        intensity=np.zeros(0, dtype=np.float64),
        keyword_case=nothing,
        keyword=nothing,
    )


def join(parts: Sequence[Facts]) -> Facts:
    """One set of arrays for several days, codes mapped onto one shared vocabulary."""
    if not parts:
        return empty_facts()
    if len(parts) == 1:
        return parts[0]
    vocab: dict[str, dict[str, int]] = {k: {} for k in (*TEXT_FIELDS, "keyword")}
    tables: dict[tuple[str, tuple[str, ...]], IntArray] = {}
    codes: dict[str, list[IntArray]] = {k: [] for k in TEXT_FIELDS}
    keyword_case: list[IntArray] = []
    keyword: list[IntArray] = []
    base = 0
    for part in parts:
        for name in TEXT_FIELDS:
            codes[name].append(_remap(part.codes[name], name, part.vocab[name], vocab[name], tables))
        keyword.append(_remap(part.keyword, "keyword", part.vocab["keyword"], vocab["keyword"], tables))
        keyword_case.append(part.keyword_case + base)
        base += part.size
    return Facts(
        ids={k: np.concatenate([p.ids[k] for p in parts]) for k in ID_FIELDS},
        codes={k: np.concatenate(v) for k, v in codes.items()},
        vocab={k: list(v) for k, v in vocab.items()},
        flags=np.concatenate([p.flags for p in parts]),
        minutes={k: np.concatenate([p.minutes[k] for p in parts]) for k in MINUTES},
        intensity=np.concatenate([p.intensity for p in parts]),
        keyword_case=np.concatenate(keyword_case),
        keyword=np.concatenate(keyword),
    )


def subset(facts: Facts, keep: NDArray[np.bool_]) -> Facts:
    """The cases where ``keep`` is true (keyword rows follow their cases)."""
    if bool(keep.all()):
        return facts
    position = np.cumsum(keep) - 1
    words = keep[facts.keyword_case] if facts.keyword_case.shape[0] else np.zeros(0, dtype=bool)
    return Facts(
        ids={k: v[keep] for k, v in facts.ids.items()},
        codes={k: v[keep] for k, v in facts.codes.items()},
        vocab=facts.vocab,
        flags=facts.flags[keep],
        minutes={k: v[keep] for k, v in facts.minutes.items()},
        intensity=facts.intensity[keep],
        keyword_case=position[facts.keyword_case[words]].astype(np.int64),
        keyword=facts.keyword[words],
    )


def _remap(
    codes: IntArray,
    name: str,
    words: list[str],
    shared: dict[str, int],
    tables: dict[tuple[str, tuple[str, ...]], IntArray],
) -> IntArray:
    key = (name, tuple(words))
    table = tables.get(key)
    if table is None:
        table = np.array([shared.setdefault(w, len(shared)) for w in words] + [-1], dtype=np.int64)
        tables[key] = table
    return table[codes]  # -1 picks the table's last entry, -1 again


# ---------------------------------------------------------------------------------------- reading


_COLUMNS = (
    "id, community_id, grid_id, assignee_id, household_id, category, intent, polarity, urgency, rating, address,"
    " emotions, CASE WHEN unconfirmed THEN 'unconfirmed' ELSE 'confirmed' END, intensity, keywords"
)
# The changed cases of a day, found in the created_at index alone (it carries updated_at and the
# id), then read by id: filtering the day's rows on updated_at would read every one of them.
_CHANGED = 'SELECT id FROM "case" WHERE created_at >= %s AND created_at < %s AND updated_at > %s'
_TIMES = ("created_at", "first_replied_at", "resolved_at", "closed_at", "resolution_due", "updated_at")


def _fetch(
    session: Session, start: datetime, end: datetime, changed: Sequence[tuple[datetime, datetime, datetime]] = ()
) -> tuple[list[tuple[object, ...]], bool]:
    """The rows of cases received in [start, end), oldest first; with ``changed``, only the cases
    received in each (start, end) and updated after its third value, in one query.

    Read through the driver's own cursor. SQLite hands back its stored text (numpy parses it far
    faster than per-row SQL); PostgreSQL computes µs since the epoch. The second value says which.
    """
    connection = session.connection()
    is_sqlite = connection.dialect.name == "sqlite"
    mark = "?" if is_sqlite else "%s"
    if changed:
        where = "id IN ({})".format(" UNION ALL ".join([_CHANGED.replace("%s", mark)] * len(changed)))
        bounds: list[datetime] = [t for item in changed for t in item]
    else:
        where = f"created_at >= {mark} AND created_at < {mark}"
        bounds = [start, end]
    if is_sqlite:
        columns = ", ".join(_TIMES)
        params: list[object] = [_sqlite_time(t) for t in bounds]
    else:
        columns = ", ".join(f"CAST(extract(epoch FROM {name}) * 1000000 AS BIGINT)" for name in _TIMES)
        params = list(bounds)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f'SELECT {_COLUMNS}, {columns} FROM "case" WHERE {where} ORDER BY created_at', params)
        rows: list[tuple[object, ...]] = [tuple(r) for r in cursor.fetchall()]
    finally:
        cursor.close()
    return rows, is_sqlite


def _sqlite_time(moment: datetime) -> str:
    # The text SQLAlchemy stores for UTCDateTime on SQLite, so comparisons match the app's.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True, slots=True)
class PackedDay:
    day: date
    cases: int
    last_change: int | None
    facts: Facts


def pack_days(session: Session, days: Sequence[date], zone: ZoneInfo) -> list[PackedDay]:
    """Read the cases of ``days`` (consecutive runs in one query each) and pack each day."""
    packed: list[PackedDay] = []
    for run in _runs(sorted(days)):
        end = day_start(run[-1] + timedelta(days=1), zone)
        rows, text_times = _fetch(session, day_start(run[0], zone), end)
        bounds = np.array([micros(day_start(d, zone)) for d in run] + [micros(end)], dtype=np.int64)
        facts, created, updated = _facts(rows, text_times, run, zone)
        cuts = np.searchsorted(created, bounds, side="left")
        for i, d in enumerate(run):
            lo, hi = int(cuts[i]), int(cuts[i + 1])
            changes = updated[lo:hi]
            last = int(changes.max()) if changes.shape[0] and int(changes.max()) != NO_TIME else None
            packed.append(PackedDay(d, hi - lo, last, _slice(facts, lo, hi)))
    return packed


def _slice(facts: Facts, lo: int, hi: int) -> Facts:
    """Cases lo..hi-1 (keyword rows are in case order, so they slice too)."""
    k_lo, k_hi = (int(x) for x in np.searchsorted(facts.keyword_case, [lo, hi], side="left"))
    return Facts(
        ids={k: v[lo:hi] for k, v in facts.ids.items()},
        codes={k: v[lo:hi] for k, v in facts.codes.items()},
        vocab=facts.vocab,
        flags=facts.flags[lo:hi],
        minutes={k: v[lo:hi] for k, v in facts.minutes.items()},
        intensity=facts.intensity[lo:hi],
        keyword_case=facts.keyword_case[k_lo:k_hi] - lo,
        keyword=facts.keyword[k_lo:k_hi],
    )


def _runs(days: Sequence[date]) -> list[list[date]]:
    runs: list[list[date]] = []
    for d in days:
        if runs and runs[-1][-1] + timedelta(days=1) == d:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def _facts(
    rows: Sequence[tuple[object, ...]], text_times: bool, days: Sequence[date], zone: ZoneInfo
) -> tuple[Facts, IntArray, IntArray]:
    """Column arrays from rows of ``days``, and their created_at and updated_at in µs.

    Vectorised where numpy can: this runs for every case of a day packed from scratch.
    """
    if not rows:
        nothing = np.zeros(0, dtype=np.int64)
        return empty_facts(), nothing, nothing
    columns = list(zip(*rows, strict=True))
    ids = {name: _whole_numbers(columns[i]) for i, name in enumerate(ID_FIELDS)}
    vocab: dict[str, list[str]] = {}
    codes: dict[str, IntArray] = {}
    for i, name in enumerate(TEXT_FIELDS, start=5):
        values = columns[i]
        if name == "emotion":  # the case's comma list, strongest first: the digest counts the strongest
            values = tuple(str(raw).split(",", 1)[0] if raw else "" for raw in values)
        codes[name], vocab[name] = _encode(values, blank_is_missing=name in ("address", "emotion"))
    # Keywords: each case's comma list, counted once per case.
    lists = [str(raw).split(",") if raw else [] for raw in columns[14]]
    owner = np.repeat(np.arange(len(lists), dtype=np.int64), [len(words) for words in lists])
    flat = [w.strip() for w in chain.from_iterable(lists)]
    word, words = _encode(flat)
    present = word >= 0
    pairs = np.unique(owner[present] * max(len(words), 1) + word[present])
    vocab["keyword"] = words
    times: dict[str, IntArray] = {}
    for i, name in enumerate(_TIMES, start=15):
        if text_times:
            times[name] = np.array(columns[i], dtype="datetime64[us]").astype(np.int64)  # NULL -> NaT = NO_TIME
        else:
            times[name] = _whole_numbers(columns[i], missing=NO_TIME)
    created = times["created_at"]
    facts = Facts(
        ids=ids,
        codes=codes,
        vocab=vocab,
        flags=_flags(times, created, days, zone),
        minutes={
            "reply": _minutes(times["first_replied_at"], created),
            "resolve": _minutes(times["resolved_at"], created),
        },
        intensity=np.array(columns[13], dtype=np.float64),
        keyword_case=pairs // max(len(words), 1),
        keyword=pairs % max(len(words), 1),
    )
    return facts, created, times["updated_at"]


def _flags(times: dict[str, IntArray], created: IntArray, days: Sequence[date], zone: ZoneInfo) -> IntArray:
    """Each case's outcome bits at the ends of its day's week, month and quarter."""
    starts = np.array([micros(day_start(d, zone)) for d in days], dtype=np.int64)
    ends = np.array([[micros(day_start(end_day_of(k, d), zone)) for k in PERIODS] for d in days], dtype=np.int64)
    end = ends[np.clip(np.searchsorted(starts, created, side="right") - 1, 0, len(days) - 1)]
    resolved_at, closed_at = times["resolved_at"], times["closed_at"]
    due, replied_at = times["resolution_due"], times["first_replied_at"]
    flags = np.where((resolved_at != NO_TIME) & (resolved_at <= due), 1 << ON_TIME, 0).astype(np.int64)
    for k in range(len(PERIODS)):
        resolved = (resolved_at != NO_TIME) & (resolved_at < end[:, k])
        open_at_end = ~resolved & ((closed_at == NO_TIME) | (closed_at >= end[:, k]))
        flags |= resolved.astype(np.int64) << (RESOLVED + k)
        flags |= (open_at_end & (due < end[:, k])).astype(np.int64) << (OVERDUE + k)
        flags |= ((replied_at != NO_TIME) & (replied_at < end[:, k])).astype(np.int64) << (REPLIED + k)
        flags |= ((closed_at != NO_TIME) & (closed_at < end[:, k])).astype(np.int64) << (CLOSED + k)
    return flags


def _minutes(later: IntArray, created: IntArray) -> FloatArray:
    return np.where(later != NO_TIME, (later - created) / 60_000_000, np.nan)


def _whole_numbers(values: Sequence[object], missing: int = -1) -> IntArray:
    # Through float64 (NULL -> NaN): exact for ids and for µs timestamps before the year 2255.
    floats = np.array(values, dtype=np.float64)
    found = np.where(np.isnan(floats), float(missing), floats)
    result: IntArray = found.astype(np.int64)
    if missing == NO_TIME:
        result[np.isnan(floats)] = NO_TIME  # float64 cannot hold int64's minimum exactly enough
    return result


def _encode(values: Sequence[object], *, blank_is_missing: bool = True) -> tuple[IntArray, list[str]]:
    """Codes into the sorted distinct values; NULL (and "", when ``blank_is_missing``) are -1."""
    index = {v: i for i, v in enumerate(dict.fromkeys(values))}
    raw = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    # Sorted, so that most days share a vocabulary and joining them reuses one code table.
    kept = sorted(str(v) for v in index if v is not None and not (blank_is_missing and v == ""))
    renumber = {v: i for i, v in enumerate(kept)}
    table = np.array([renumber.get(str(v), -1) if v is not None else -1 for v in index] + [-1], dtype=np.int64)
    return table[raw], [str(v) for v in kept]


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def fingerprints(session: Session, days: Sequence[date], zone: ZoneInfo) -> dict[date, tuple[int, int | None]]:
    """(case count, latest updated_at in µs) per day, from the created_at index alone; empty days omitted.

    One index range per day and nothing to sort (a GROUP BY over the period would sort every entry).
    """
    if not days:
        return {}
    connection = session.connection()
    bounds = [(day_start(d, zone), day_start(d + timedelta(days=1), zone)) for d in days]
    cursor = connection.connection.cursor()
    try:
        if connection.dialect.name == "sqlite":
            values = " UNION ALL ".join(["SELECT ? AS i, ? AS s, ? AS e"] * len(days))
            within = 'FROM "case" WHERE created_at >= d.s AND created_at < d.e'
            cursor.execute(
                f"WITH d AS ({values}) SELECT i, (SELECT count(*) {within}), (SELECT max(updated_at) {within}) FROM d",
                [v for i, (s, e) in enumerate(bounds) for v in (i, _sqlite_time(s), _sqlite_time(e))],
            )
            rows = [
                (int(i), int(n), None if last is None else _text_micros(str(last))) for i, n, last in cursor.fetchall()
            ]
        else:
            values = ", ".join(["(%s, %s::timestamptz, %s::timestamptz)"] * len(days))
            cursor.execute(
                f"SELECT d.i, x.n, CAST(extract(epoch FROM x.last) * 1000000 AS BIGINT) FROM (VALUES {values})"
                ' AS d(i, s, e) CROSS JOIN LATERAL (SELECT count(*) AS n, max(updated_at) AS last FROM "case"'
                " WHERE created_at >= d.s AND created_at < d.e) AS x",
                [v for i, (s, e) in enumerate(bounds) for v in (i, s, e)],
            )
            rows = [(int(i), int(n), None if last is None else int(last)) for i, n, last in cursor.fetchall()]
    finally:
        cursor.close()
    return {days[i]: (n, last) for i, n, last in rows if n}


def _text_micros(stored: str) -> int:
    return int(np.datetime64(stored, "us").astype(np.int64))


@dataclass(frozen=True, slots=True)
class StaleDay:
    """A stored day that no longer matches its cases: its pack and what the index says now."""

    day: date
    facts: Facts
    last_change: int
    now: tuple[int, int | None]


def patch_days(session: Session, stale: Sequence[StaleDay], zone: ZoneInfo) -> list[PackedDay]:
    """Stored days brought up to date by reading only their cases changed since they were packed.

    Every change after packing carries a newer ``updated_at`` than the day's ``last_change`` (days
    are stored only once quiet), so these rows are exactly what moved. One query for all the days.
    A day whose result does not match its current count and latest change is left out (the
    caller packs it from all its cases).
    """
    if not stale:
        return []
    stale = sorted(stale, key=lambda s: s.day)
    days = [s.day for s in stale]
    ranges = [
        (
            day_start(s.day, zone),
            day_start(s.day + timedelta(days=1), zone),
            _EPOCH + timedelta(microseconds=s.last_change),
        )
        for s in stale
    ]
    rows, text_times = _fetch(session, ranges[0][0], ranges[-1][1], ranges)
    fresh_all, created, updated_all = _facts(rows, text_times, days, zone)
    patched: list[PackedDay] = []
    for item, (start, end, _) in zip(stale, ranges, strict=True):
        lo, hi = (int(x) for x in np.searchsorted(created, [micros(start), micros(end)], side="left"))
        fresh = _slice(fresh_all, lo, hi)
        kept = subset(item.facts, ~np.isin(item.facts.ids["case"], fresh.ids["case"]))
        merged = join([kept, fresh])
        latest = max([item.last_change, *(int(u) for u in updated_all[lo:hi])])
        if (merged.size, latest) == item.now:
            patched.append(PackedDay(item.day, merged.size, latest, merged))
    return patched


def _stored_days(
    session: Session, zone: ZoneInfo, first: date, last: date
) -> list[tuple[date, int, int | None, bytes]]:
    """Stored days in [first, last], read raw (PostgreSQL in binary: bytea as text would double it)."""
    connection = session.connection()
    is_sqlite = connection.dialect.name == "sqlite"
    dbapi = connection.connection
    cursor = dbapi.cursor() if is_sqlite else cast(_BinaryCursors, dbapi.driver_connection).cursor(binary=True)
    placeholder = "?" if is_sqlite else "%s"
    try:
        cursor.execute(
            f"SELECT day, cases, last_change, facts FROM digestday WHERE zone = {placeholder}"
            f" AND day >= {placeholder} AND day <= {placeholder}",
            [zone.key, first.isoformat(), last.isoformat()] if is_sqlite else [zone.key, first, last],
        )
        found = cursor.fetchall()
    finally:
        cursor.close()
    return [
        (
            d if isinstance(d, date) else date.fromisoformat(str(d)),
            int(cast(int, n)),
            None if c is None else int(cast(int, c)),
            bytes(cast(bytes, raw)),
        )
        for d, n, c, raw in found
    ]


class _BinaryCursors(Protocol):
    """psycopg 3's connection: a cursor that receives results in binary."""

    def cursor(self, *, binary: bool) -> DBAPICursor: ...


def _fingerprints_apart(engine: sa.Engine, days: Sequence[date], zone: ZoneInfo) -> dict[date, tuple[int, int | None]]:
    with engine.connect() as connection, Session(bind=connection) as session:
        return fingerprints(session, days, zone)


# ---------------------------------------------------------------------------------------- the cache


@dataclass(slots=True)
class DayCache:
    """Packed days for one digest run: read once for all scopes, and the rebuilt ones to store.

    ``now`` (the job's clock) decides which rebuilt days may be stored: whole days whose cases
    have been quiet for ``QUIET``. Without ``now`` nothing is stored (on-demand digests).
    """

    zone: ZoneInfo
    now: datetime | None = None
    known: dict[date, Facts] = field(default_factory=dict)
    to_store: dict[date, PackedDay] = field(default_factory=dict)
    #: Days packed from all their cases, and days where only the changed cases were read again.
    rebuilt: list[date] = field(default_factory=list)
    patched: list[date] = field(default_factory=list)

    def facts(self, session: Session, first_day: date, end_day: date) -> Facts:
        """The cases received on [first_day, end_day), joined."""
        days = [first_day + timedelta(days=i) for i in range((end_day - first_day).days)]
        wanted = [d for d in days if d not in self.known]
        if wanted:
            self._load(session, wanted)
        return join([self.known[d] for d in days])

    def _load(self, session: Session, days: Sequence[date]) -> None:
        bind = session.get_bind()
        if isinstance(bind, sa.Engine) and bind.dialect.name == "postgresql":
            # The server checks the days on a second connection while this one reads the packs.
            with ThreadPoolExecutor(max_workers=1) as pool:
                checking = pool.submit(_fingerprints_apart, bind, days, self.zone)
                stored = _stored_days(session, self.zone, days[0], days[-1])
                current = checking.result()
        else:
            current = fingerprints(session, days, self.zone)
            stored = _stored_days(session, self.zone, days[0], days[-1])
        wanted = set(days)
        stale: list[StaleDay] = []
        for day, cases, last_change, raw in stored:
            if day not in wanted:
                continue
            facts = Facts.unpack(raw)
            now = current.get(day, (0, None))
            if facts is None:
                continue
            if now == (cases, last_change):
                self.known[day] = facts
            elif last_change is not None and now[0]:
                stale.append(StaleDay(day, facts, last_change, now))
        for patched in patch_days(session, stale, self.zone):
            self.known[patched.day] = patched.facts
            self.patched.append(patched.day)
            if self._storable(patched):
                self.to_store[patched.day] = patched
        missing = [d for d in days if d not in self.known]
        for packed in pack_days(session, missing, self.zone):
            self.known[packed.day] = packed.facts
            self.rebuilt.append(packed.day)
            if self._storable(packed):
                self.to_store[packed.day] = packed

    def _storable(self, packed: PackedDay) -> bool:
        if self.now is None or day_start(packed.day + timedelta(days=1), self.zone) > self.now:
            return False
        quiet_since = micros(self.now - QUIET)
        return packed.last_change is None or packed.last_change < quiet_since

    def save(self, session: Session) -> int:
        """Upsert the rebuilt days (one row per zone and day); returns how many."""
        if not self.to_store or self.now is None:
            return 0
        table = cast(sa.Table, sa.inspect(DigestDay).local_table)
        rows = [
            {
                "zone": self.zone.key,
                "day": p.day,
                "cases": p.cases,
                "last_change": p.last_change,
                "facts": p.facts.pack(),
                "built_at": self.now,
            }
            for p in self.to_store.values()
        ]
        dialect = session.get_bind().dialect.name
        insert = (sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)).values(rows)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["zone", "day"],
                set_={k: insert.excluded[k] for k in ("cases", "last_change", "facts", "built_at")},
            )
        )
        saved = len(rows)
        self.to_store.clear()
        return saved


def counts_by(codes: IntArray, size: int, weights: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """How many entries (or the sum of ``weights``) per code 0..size-1; -1 is left out."""
    keep = codes >= 0
    return np.bincount(codes[keep], weights=None if weights is None else weights[keep], minlength=size).astype(
        np.float64
    )


def dense(values: IntArray) -> tuple[IntArray, list[int]]:
    """Values (ids, -1 for none) as 0..k-1 codes, and the distinct values in order."""
    if values.shape[0] == 0:
        return values, []
    low = int(values.min())
    if int(values.max()) - low > 4 * values.shape[0] + 1_000_000:  # sparse ids: sort instead
        unique, inverse = np.unique(values, return_inverse=True)
        return inverse.astype(np.int64).reshape(-1), [int(v) for v in unique]
    present = np.bincount(values - low) > 0
    table = np.cumsum(present) - 1
    return table[values - low].astype(np.int64), [int(v) + low for v in np.flatnonzero(present)]
