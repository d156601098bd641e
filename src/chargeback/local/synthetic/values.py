"""Vectorised value builders: exact decimals, fixed-width id strings and categorical draws from numpy arrays."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
from numpy.random import Generator

from chargeback.local.synthetic.window import Window

_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_BASE36 = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", np.uint8)


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a deterministic, well-mixed 64-bit hash of each value."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _decimal_from_unscaled(unscaled: np.ndarray, scale: int) -> pa.Array:
    """decimal128(38, scale) values `unscaled * 10**-scale`, from int64 (little-endian 128-bit limbs)."""
    limbs = np.empty((len(unscaled), 2), dtype=np.int64)
    limbs[:, 0] = unscaled
    limbs[:, 1] = unscaled >> 63  # sign extension
    return pa.Array.from_buffers(pa.decimal128(38, scale), len(unscaled), [None, pa.py_buffer(limbs)])


def decimal18(nano: np.ndarray, atto: np.ndarray) -> pa.Array:
    """Exact DECIMAL(38,18) values `nano * 1e-9 + atto * 1e-18` (both parts carry the sign)."""
    import pyarrow.compute as pc

    # Adding two decimal128(38, 18) needs precision 39, so add in decimal256 and narrow back (values fit).
    wide = pa.decimal256(40, 18)
    total = pc.add(_decimal_from_unscaled(nano, 9).cast(wide), _decimal_from_unscaled(atto, 18).cast(wide))
    return total.cast(pa.decimal128(38, 18))


def strings(chars: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A string array from an (n, width) uint8 matrix of ASCII characters, NULL where `valid` is False."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    validity = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    data = pa.py_buffer(np.ascontiguousarray(chars, dtype=np.uint8))
    return pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(offsets), data])


def _hex_chars(words: np.ndarray) -> np.ndarray:
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    return _HEX[(words[:, None] >> shifts) & np.uint64(0xF)]


def uuid_chars(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Version-4 UUIDs (`8-4-4-4-12` lower-case hex) from two 64-bit random words each."""
    hi = (hi & ~np.uint64(0xF000)) | np.uint64(0x4000)
    lo = (lo & ~np.uint64(0xC << 60)) | np.uint64(0x8 << 60)
    h = np.concatenate([_hex_chars(hi), _hex_chars(lo)], axis=1)
    dash = np.full((len(h), 1), ord("-"), np.uint8)
    return np.concatenate([h[:, :8], dash, h[:, 8:12], dash, h[:, 12:16], dash, h[:, 16:20], dash, h[:, 20:]], axis=1)


def digit_chars(values: np.ndarray, width: int) -> np.ndarray:
    powers = np.uint64(10) ** np.arange(width - 1, -1, -1, dtype=np.uint64)
    return ((values.astype(np.uint64)[:, None] // powers) % np.uint64(10) + np.uint64(ord("0"))).astype(np.uint8)


def _cluster_id_chars(window: Window, block_hour: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Job-cluster ids `MMDD-HHMMSS-xxxxxxxx`, stamped with the hour the run started."""
    when = np.datetime64(window.start_date, "h") + block_hour.astype("timedelta64[h]")
    month = when.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (when.astype("datetime64[D]") - when.astype("datetime64[M]")).astype(np.int64) + 1
    hour = block_hour.astype(np.int64) % 24
    minute_second = (bits % np.uint64(3_600)).astype(np.int64)
    suffix = _BASE36[(bits[:, None] >> np.uint64(12)) // np.uint64(36) ** np.arange(8, dtype=np.uint64) % np.uint64(36)]
    dash = np.full((len(bits), 1), ord("-"), np.uint8)
    stamp = (
        [digit_chars(v, 2) for v in (month, day)]
        + [dash]
        + [digit_chars(v, 2) for v in (hour, minute_second // 60, minute_second % 60)]
    )
    return np.concatenate([*stamp, dash, suffix], axis=1)


# Distinct salts so that the ids of one run (job run id, update id, cluster id) are unrelated numbers.
_SALT_RUN, _SALT_UPDATE_HI, _SALT_UPDATE_LO, _SALT_CLUSTER = (np.uint64(x) for x in (11, 23, 37, 53))

# The ids of one run, from its salted run key: the same in usage and in the run, cluster and query tables.


def job_run_number(salted_key: np.ndarray) -> np.ndarray:
    """15-digit job run ids (`usage_metadata.job_run_id`) as integers."""
    return 10**14 + mix64(salted_key ^ _SALT_RUN) % (9 * 10**14)


def update_id_chars(salted_key: np.ndarray) -> np.ndarray:
    """Pipeline update ids (`usage_metadata.dlt_update_id`), UUIDs."""
    return uuid_chars(mix64(salted_key ^ _SALT_UPDATE_HI), mix64(salted_key ^ _SALT_UPDATE_LO))


def run_cluster_id_chars(window: Window, block_hour: np.ndarray, salted_key: np.ndarray) -> np.ndarray:
    """Job and pipeline cluster ids (`usage_metadata.cluster_id`), stamped with the hour the run's block began."""
    return _cluster_id_chars(window, block_hour, mix64(salted_key ^ _SALT_CLUSTER))


def categorical(rng: Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category per row from a row-wise probability matrix (rows sum to 1)."""
    cumulative = np.cumsum(probabilities, axis=1)
    return (rng.random(len(probabilities))[:, None] >= cumulative[:, :-1]).sum(axis=1)


def char_matrix(values: list[str]) -> np.ndarray:
    """Equal-length ASCII strings as an (n, width) uint8 matrix."""
    return np.frombuffer("".join(values).encode("ascii"), np.uint8).reshape(len(values), -1)


def hex_id(name: str, width: int = 32) -> str:
    """A fixed hex id for a named thing of the world (dashboards, queries, alerts, spaces)."""
    return hashlib.sha256(name.encode()).hexdigest()[:width]


def user_id(identity: str) -> str:
    """The workspace user id of an identity (`executed_by_user_id`): a stable 16-digit number."""
    return str(10**15 + int(hashlib.sha256(identity.encode()).hexdigest()[:15], 16) % (9 * 10**15))
