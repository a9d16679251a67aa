"""The pure parts of the Basic + client_id scheme: header parsing and the secrets' digests."""

from __future__ import annotations

import hashlib
from base64 import b64encode
from unittest import mock

import pytest
from django.contrib.auth.hashers import make_password
from hypothesis import given
from hypothesis import strategies as st

from fleetmon_project import authentication
from fleetmon_project.authentication import NO_CLIENT_DIGEST, SecretCheck, parse_basic, secret_check, secret_digest


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


def test_a_digest_matches_its_secret_only():
    stored = secret_digest("right")
    assert stored == "sha256$" + hashlib.sha256(b"right").hexdigest()
    assert secret_check(stored=stored, secret="right") == SecretCheck(ok=True)
    assert secret_check(stored=stored, secret="wrong") == SecretCheck(ok=False)
    assert secret_check(stored=stored, secret="righ") == SecretCheck(ok=False)


def test_digests_are_checked_without_a_password_hasher():
    with mock.patch.object(authentication, "check_password") as hasher:
        secret_check(stored=secret_digest("right"), secret="right")
        secret_check(stored=secret_digest("right"), secret="wrong")
    hasher.assert_not_called()


def test_an_earlier_releases_hash_is_checked_with_its_hasher_and_its_digest_offered():
    stored = make_password("right")
    assert secret_check(stored=stored, secret="right") == SecretCheck(ok=True, upgrade=secret_digest("right"))
    assert secret_check(stored=stored, secret="wrong") == SecretCheck(ok=False)


@given(st.text(min_size=1))
def test_the_unknown_client_digest_matches_no_secret(secret):
    assert not secret_check(stored=NO_CLIENT_DIGEST, secret=secret).ok
    assert len(NO_CLIENT_DIGEST) == len(secret_digest(secret))
