import uuid
from concurrent.futures import ThreadPoolExecutor

from services.kernel.ids import BLOCK, new_id, random_bytes


def test_new_ids_are_distinct_version_4_uuids_in_canonical_form() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text


def test_random_bytes_are_never_handed_out_twice_across_blocks_and_threads() -> None:
    def draw(_: int) -> list[bytes]:
        return [random_bytes(12) for _ in range(3 * BLOCK // 12)]

    with ThreadPoolExecutor(4) as pool:
        drawn = [b for chunk in pool.map(draw, range(4)) for b in chunk]
    assert all(len(b) == 12 for b in drawn)
    assert len(set(drawn)) == len(drawn)
    assert len(random_bytes(BLOCK + 1)) == BLOCK + 1
