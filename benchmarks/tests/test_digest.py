"""Digests are equal exactly when outputs are equal, whatever order they were produced in."""

import numpy as np
import pytest

from benchmarks.digest import Digest, date_of


def _digest(items, rows=()):
    d = Digest()
    for key, arr in items:
        d.add_array(key, arr)
    for row in rows:
        d.add_row(*row)
    return d.hexdigest(d.finish())


def test_order_does_not_matter():
    a, b = np.arange(6, dtype="uint16").reshape(2, 3), np.ones((2, 3), "uint16")
    rows = [(1, "2024-01-03", "B04", 7), (0, "2024-01-03", "B04", 9)]
    assert _digest([("k/a", a), ("k/b", b)], rows) == _digest([("k/b", b), ("k/a", a)], rows[::-1])


@pytest.mark.parametrize(
    "other",
    [
        np.array([[0, 1, 2], [3, 4, 6]], "uint16"),  # one pixel differs
        np.arange(6, dtype="int32").reshape(2, 3),  # same values, other dtype
        np.arange(6, dtype="uint16").reshape(3, 2),  # same bytes, other shape
    ],
)
def test_any_difference_changes_the_digest(other):
    base = np.arange(6, dtype="uint16").reshape(2, 3)
    assert _digest([("k", base)]) != _digest([("k", other)])


def test_byte_order_and_layout_do_not_matter():
    base = np.arange(12, dtype="<u2").reshape(3, 4)
    assert _digest([("k", base)]) == _digest([("k", base.astype(">u2"))])
    assert _digest([("k", base)]) == _digest([("k", np.asfortranarray(base))])


def test_integral_floats_equal_ints_and_nan_is_stable():
    assert _digest([], [(1, "B04", 7.0)]) == _digest([], [(1, "B04", np.int64(7))])
    assert _digest([], [(1, "B04", 7.5)]) != _digest([], [(1, "B04", 7)])
    assert _digest([], [(1, float("nan"))]) == _digest([], [(1, np.float64("nan"))])


def test_rejects_non_2d_arrays():
    with pytest.raises(ValueError, match="2-D"):
        Digest().add_array("k", np.zeros((1, 2, 2)))


@pytest.mark.parametrize(
    "value",
    ["2024-01-03T10:30:00Z", "2024-01-03T10:30:00+00:00", np.datetime64("2024-01-03T10:30")],
)
def test_date_of(value):
    assert date_of(value) == "2024-01-03"
