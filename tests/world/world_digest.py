"""Helper imported by a subprocess in test_world_data: a digest of every row of a world."""

import hashlib
import json

from obliviate.world import load_split_rows
from obliviate.world.splits import PEOPLE_SPLITS


def digest(prefix: str) -> str:
    rows = [load_split_rows(f"{prefix}{s}_all") for s in (*PEOPLE_SPLITS, "general")]
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
