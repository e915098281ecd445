"""`pages()`: the one loop every CLI listing follows its pages with."""

from __future__ import annotations

from layercake.gateway.v1 import profiles_service_pb2 as pb
from services.cli.target import MOST_PER_PAGE, pages


class Listing:
    """A server holding `count` members, answering at most `cap` a page."""

    def __init__(self, count: int, cap: int = 3) -> None:
        self.members = [pb.AudienceMember(profile_id=f"p{i:02}") for i in range(count)]
        self.cap = cap
        self.asked: list[tuple[str, int]] = []

    def fetch(self, token: str, size: int) -> pb.ListAudienceMembersResponse:
        self.asked.append((token, size))
        start = int(token or 0)
        end = start + min(size, self.cap)
        more = str(end) if end < len(self.members) else ""
        return pb.ListAudienceMembersResponse(
            members=self.members[start:end], next_page_token=more, total_size=len(self.members)
        )


def test_every_item_page_after_page() -> None:
    server = Listing(7)
    found, last = pages(server.fetch, lambda p: p.members)
    assert [m.profile_id for m in found] == [f"p{i:02}" for i in range(7)]
    assert server.asked == [("", MOST_PER_PAGE), ("3", MOST_PER_PAGE), ("6", MOST_PER_PAGE)]
    assert last.next_page_token == "" and last.total_size == 7


def test_a_limit_asks_for_what_is_missing_and_stops_there() -> None:
    server = Listing(10)
    found, last = pages(server.fetch, lambda p: p.members, limit=5)
    assert [m.profile_id for m in found] == ["p00", "p01", "p02", "p03", "p04"]
    assert server.asked == [("", 5), ("3", 2)]
    assert last.next_page_token == "5"  # more remain


def test_an_empty_listing_is_one_call() -> None:
    server = Listing(0)
    found, last = pages(server.fetch, lambda p: p.members, limit=4)
    assert found == [] and server.asked == [("", 4)] and last.total_size == 0
