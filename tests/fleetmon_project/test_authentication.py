"""The pure parts of the Basic + client_id scheme: header parsing and the verification cache."""

from __future__ import annotations

from base64 import b64encode
from unittest import mock

import pytest
from django.contrib.auth.hashers import make_password

from fleetmon_project import authentication
from fleetmon_project.authentication import VerifiedSecrets, parse_basic


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def basic(text: bytes) -> bytes:
    return b"Basic " + b64encode(text)


def test_basic_header_gives_user_and_secret_split_at_the_first_colon():
    assert parse_basic(basic(b"owner:se:cret")) == ("owner", "se:cret")
    assert parse_basic(b"basic " + b64encode("zoë:s".encode())) == ("zoë", "s")


@pytest.mark.parametrize(
    "header",
    [
        b"",
        b"Basic",
        b"Basic !!not-base64!!",
        b"Basic " + b64encode(b"owner:s")[:-1],  # truncated: bad padding
        basic(b"no-colon"),
        basic(b":secret"),
        basic(b"owner:"),
        basic(b"\xff\xfe:secret"),  # not UTF-8
        b"Token " + b64encode(b"owner:s"),
        basic(b"owner:s") + b" extra",
    ],
)
def test_malformed_basic_headers_give_nothing(header):
    assert parse_basic(header) is None


def test_a_verified_secret_is_not_hashed_again():
    cache, stored = VerifiedSecrets(), make_password("right")
    with mock.patch.object(authentication, "check_password", wraps=authentication.check_password) as check:
        assert cache.matches(stored, "right")
        assert cache.matches(stored, "right")
    assert check.call_count == 1


def test_a_wrong_secret_is_hashed_every_time_and_never_remembered():
    cache, stored = VerifiedSecrets(), make_password("right")
    with mock.patch.object(authentication, "check_password", wraps=authentication.check_password) as check:
        assert not cache.matches(stored, "wrong")
        assert not cache.matches(stored, "wrong")
    assert check.call_count == 2 and len(cache) == 0


def test_a_new_stored_hash_does_not_match_what_was_verified_against_the_old_one():
    cache, old = VerifiedSecrets(), make_password("old")
    assert cache.matches(old, "old")
    assert not cache.matches(make_password("new"), "old")


def test_the_cache_is_bounded_and_forgets_the_least_recently_used():
    cache = VerifiedSecrets(size=2)
    hashes = {name: make_password(name) for name in ("a", "b", "c")}
    cache.matches(hashes["a"], "a")
    cache.matches(hashes["b"], "b")
    cache.matches(hashes["a"], "a")  # a is now the most recent
    cache.matches(hashes["c"], "c")
    assert len(cache) == 2
    with mock.patch.object(authentication, "check_password", wraps=authentication.check_password) as check:
        cache.matches(hashes["a"], "a")
        assert check.call_count == 0
        cache.matches(hashes["b"], "b")
        assert check.call_count == 1
