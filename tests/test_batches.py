import pytest

from spm_rules.batches import batched


@pytest.mark.parametrize("count, size, sizes", [(0, 3, []), (1, 3, [1]), (3, 3, [3]), (7, 3, [3, 3, 1])])
def test_batches_are_bounded_and_keep_order(count: int, size: int, sizes: list[int]) -> None:
    batches = list(batched(range(count), size))
    assert [len(b) for b in batches] == sizes
    assert [item for batch in batches for item in batch] == list(range(count))


def test_reads_lazily_and_refuses_empty_batches() -> None:
    consumed = []

    def source():
        for n in range(10):
            consumed.append(n)
            yield n

    assert next(batched(source(), 4)) == [0, 1, 2, 3] and consumed == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        next(batched([1], 0))
