"""The pure parts of the Basic + client_id scheme: header parsing and the secrets' digests."""

from __future__ import annotations

from base64 import b64encode
from unittest import mock

import pytest
from django.conf import global_settings
from django.contrib.auth.hashers import check_password, make_password

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


def test_a_digest_matches_its_secret_only_and_is_salted():
    stored = secret_digest("right")
    assert stored.startswith("pbkdf2_sha256$1$") and "right" not in stored
    assert secret_digest("right") != stored
    assert secret_check(stored=stored, secret="right") == SecretCheck(ok=True)
    assert secret_check(stored=stored, secret="wrong") == SecretCheck(ok=False)
    assert secret_check(stored=stored, secret="righ") == SecretCheck(ok=False)


def test_digests_are_checked_in_one_iteration_whatever_the_password_hashers(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.ScryptPasswordHasher"]
    with mock.patch.object(authentication, "check_password") as hasher:
        assert secret_check(stored=secret_digest("right"), secret="right").ok
        assert not secret_check(stored=secret_digest("right"), secret="wrong").ok
    hasher.assert_not_called()


def test_a_release_that_checks_secrets_with_the_password_hasher_accepts_a_digest(settings):
    # What the releases before the digests ran for every request: check_password, with
    # Django's default hashers (PBKDF2 first).
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    stored = secret_digest("right")
    assert check_password("right", stored)
    assert not check_password("wrong", stored)


def test_an_earlier_releases_hash_is_checked_with_its_hasher_and_a_digest_offered():
    stored = make_password("right")
    check = secret_check(stored=stored, secret="right")
    assert check.ok and check.upgrade is not None
    assert secret_check(stored=check.upgrade, secret="right") == SecretCheck(ok=True)
    assert secret_check(stored=stored, secret="wrong") == SecretCheck(ok=False)


def test_an_unknown_client_costs_the_check_of_a_digest():
    assert NO_CLIENT_DIGEST.startswith("pbkdf2_sha256$1$")
    with mock.patch.object(authentication, "check_password") as hasher:
        assert not secret_check(stored=NO_CLIENT_DIGEST, secret="anything").ok
    hasher.assert_not_called()
