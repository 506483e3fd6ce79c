"""Hypothesis helpers shared by the hostile-input tests."""

from hypothesis import strategies as st


def weighted(*choices):
    """One of `(weight, strategy)` choices, drawn in proportion to the weights (shrinking to the first)."""
    total = sum(weight for weight, _ in choices)

    def pick(n):
        for weight, strategy in choices:
            if n < weight:
                return strategy
            n -= weight
        raise AssertionError(n)

    return st.integers(0, total - 1).flatmap(pick)
