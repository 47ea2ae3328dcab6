"""The "not duplicates" verdicts kept per dataset, so a review does not ask about the same records again.

A person who marks a cluster "Keep all: not duplicates" has looked at those records and decided. Each verdict
is kept as the set of the records' fingerprints (their question, answer and passage, normalized), not their
positions: it still holds in later versions, after records were added, removed or reordered, and it no longer
applies once one of the records is edited (the person should look again then).

    STUDIO_HOME/datasets/<id>/not_duplicates.json   [[fingerprint, ...], ...]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

from studio import atomic
from studio.data import store
from studio.dedup.text import normalize

FILE = "not_duplicates.json"


def fingerprint(record: dict) -> str:
    """The record's question, answer and passage, normalized (case, punctuation, spacing), hashed."""
    parts = [normalize(str(record.get(field) or "")) for field in ("question", "answer", "context")]
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:24]


def load(dataset_id: str) -> list[frozenset[str]]:
    """The dataset's verdicts; none when there are none yet, or the file cannot be read (they are a help,
    not data: the person is asked again)."""
    try:
        groups = json.loads((store.dataset_path(dataset_id) / FILE).read_text(encoding="utf-8"))
        return [frozenset(str(f) for f in g) for g in groups if isinstance(g, list) and g]
    except (OSError, ValueError, TypeError):
        return []


def remember(dataset_id: str, groups: Iterable[Iterable[str]]) -> int:
    """Add verdicts (each a cluster's fingerprints, one per record); returns how many were new.

    Records alike but for case, punctuation or spacing share one fingerprint: a verdict on them is a group of
    one, meaning "records with this content are not duplicates of each other"."""
    known = load(dataset_id)
    new = [frozenset(g) for g in (list(g) for g in groups) if len(g) > 1]
    new = [g for g in dict.fromkeys(new) if not any(g <= k for k in known)]
    if new:
        kept = [sorted(g) for g in known + new]
        atomic.write_json(store.dataset_path(dataset_id) / FILE, kept, indent=None)
    return len(new)


def decided(groups: Sequence[frozenset[str]], records: Sequence[dict], members: Sequence[int]) -> bool:
    """Whether records ``members`` were all marked not duplicates of each other in one earlier verdict."""
    prints = {fingerprint(records[m]) for m in members}
    return any(prints <= g for g in groups)
