from __future__ import annotations

import re

import pytest

from tests.reference import assert_xerror
from tests.telemetry.factories import FleetFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query, field",
    [
        ("pageSize=%C2%B2", "pageSize"),  # superscript two: isdigit() said yes, int() failed (500)
        ("pageSize=%D9%A1", "pageSize"),  # Arabic-Indic one: int() read it as 1
        ("pageSize=%EF%BC%95", "pageSize"),  # fullwidth five
        ("pageSize=5%0A", "pageSize"),
        ("indexRange=%D9%A1-", "indexRange"),
        ("indexRange=0-%D9%A1", "indexRange"),
        ("indexRange=%C2%B2-", "indexRange"),
        ("indexRange=0-%0A", "indexRange"),  # `$` would have matched before the newline
        ("indexRange=1234567890-", "indexRange"),
        ("indexRange=" + "9" * 5000 + "-", "indexRange"),  # past int()'s 4300-digit limit
        ("pageToken=p%D9%A1", "pageToken"),
        ("pageToken=p1%0A", "pageToken"),
    ],
)
def test_only_ascii_digits_are_numbers(api, fleet, query, field):
    body = assert_xerror(api.get(f"/api/v1/fleets?{query}"), 400, 40003)
    assert body["errors"][0]["field"] == field


def test_descending_index_range_answers_400(api, fleet):
    body = assert_xerror(api.get("/api/v1/fleets?indexRange=5-2"), 400, 40003)
    assert body["errors"] == [{"field": "indexRange", "message": "must not end (2) before it starts (5)"}]


def test_single_item_index_range_is_fine(api, user):
    fleets = [FleetFactory(owner=user) for _ in range(3)]
    body = api.get("/api/v1/fleets?indexRange=1-1").json()
    assert [f["id"] for f in body["_embedded"]["fleets"]] == [fleets[1].pk]


@pytest.mark.parametrize("token", ["p999999999", "p3"])
def test_page_token_past_the_last_result_answers_400(api, user, token):
    for _ in range(3):
        FleetFactory(owner=user)
    body = assert_xerror(api.get(f"/api/v1/fleets?pageToken={token}&pageSize=2"), 400, 40003)
    assert body["errors"][0]["field"] == "pageToken"
    assert "past the last page" in body["message"]


def test_every_issued_token_stays_within_the_pages(api, user):
    for _ in range(5):
        FleetFactory(owner=user)
    first = api.get("/api/v1/fleets?pageSize=2").json()
    last = api.get(first["_links"]["last"]["href"]).json()
    assert last["currentPage"] == last["totalPage"] == 3
    assert api.get(first["_links"]["next"]["href"]).status_code == 200


def test_empty_collection_has_one_empty_page(api, user):
    body = api.get("/api/v1/fleets?pageToken=p0").json()
    assert (body["total"], body["totalPage"], body["currentPage"]) == (0, 1, 1)
    assert api.get("/api/v1/fleets?indexRange=10-").json()["_embedded"]["fleets"] == []


def test_index_range_with_only_a_start_is_open_ended(api, user):
    # The reference's pattern is '\d+(-\d*)?': '5' means the same as '5-'.
    fleets = [FleetFactory(owner=user) for _ in range(5)]
    bare = api.get("/api/v1/fleets?indexRange=2").json()
    assert [f["id"] for f in bare["_embedded"]["fleets"]] == [f.pk for f in fleets[2:]]
    assert bare["total"] == api.get("/api/v1/fleets?indexRange=2-").json()["total"] == 3


def test_links_of_a_bare_start_index_range_keep_paging_within_it(api, user):
    fleets = [FleetFactory(owner=user) for _ in range(5)]
    first = api.get("/api/v1/fleets?indexRange=1&pageSize=2").json()
    assert "indexRange=1&" in first["_links"]["next"]["href"]
    second = api.get(first["_links"]["next"]["href"]).json()
    assert [f["id"] for f in second["_embedded"]["fleets"]] == [f.pk for f in fleets[3:5]]
    assert api.get(first["_links"]["last"]["href"]).json()["currentPage"] == 2


@pytest.mark.parametrize("value", ["-5", "5--", "5-6-", "", "1234567890"])
def test_index_range_without_a_plain_start_answers_400(api, fleet, value):
    body = assert_xerror(api.get(f"/api/v1/fleets?indexRange={value}"), 400, 40003)
    assert body["errors"][0]["field"] == "indexRange"


@pytest.mark.parametrize("value, valid", [("5", True), ("5-", True), ("0-9", True), ("5-6-", False), ("-5", False)])
def test_served_index_range_pattern_accepts_what_the_server_does(api, fleet, value, valid):
    spec = api.get("/api/schema", {"format": "json"}).json()
    (parameter,) = [p for p in spec["paths"]["/api/v1/fleets"]["get"]["parameters"] if p["name"] == "indexRange"]
    assert bool(re.search(parameter["schema"]["pattern"], value)) is valid
    assert (api.get(f"/api/v1/fleets?indexRange={value}").status_code == 200) is valid
