from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from notifications.templating import (
    RenderedRequest,
    redact_url,
    render_request_parts,
    substitute,
    uses_vehicle_variables,
)

VARIABLES = {
    "vin": "VF1AB000123456789",
    "vid": "veh-42",
    "monitorid": "mon-7",
    "fleetid": "fleet-3",
}


@pytest.mark.parametrize(
    "template, expected",
    [
        ("$vin", "VF1AB000123456789"),
        ("$vid", "veh-42"),
        ("$monitorID", "mon-7"),
        ("$fleetID", "fleet-3"),
        ("vehicle=$vid;monitor=$monitorID", "vehicle=veh-42;monitor=mon-7"),
        ("$vin/$vin", "VF1AB000123456789/VF1AB000123456789"),
        ("no variables", "no variables"),
        ("", ""),
    ],
)
def test_substitute_each_variable(template, expected):
    assert substitute(template, VARIABLES) == expected


@pytest.mark.parametrize("spelling", ["$VIN", "$Vin", "$vIn"])
def test_substitute_is_case_insensitive(spelling):
    assert substitute(spelling, VARIABLES) == "VF1AB000123456789"


@pytest.mark.parametrize("spelling", ["$MONITORID", "$monitorid", "$MonitorId"])
def test_substitute_is_case_insensitive_for_long_names(spelling):
    assert substitute(spelling, VARIABLES) == "mon-7"


def test_substitute_requires_a_word_boundary():
    assert substitute("$vinX $vid2 $vin_x", VARIABLES) == "$vinX $vid2 $vin_x"
    assert substitute("$vin-suffix", VARIABLES) == "VF1AB000123456789-suffix"


def test_substitute_leaves_unknown_variables_alone():
    assert substitute("$vin $other", {"vin": "V"}) == "V $other"
    assert substitute("$fleetID", {"vin": "V"}) == "$fleetID"


def test_substitute_is_not_recursive():
    variables = {**VARIABLES, "vin": "$fleetID", "vid": "$VIN"}
    assert substitute("$vin|$vid|$fleetID", variables) == "$fleetID|$VIN|fleet-3"


def test_substitute_inserts_replacement_text_literally():
    # re.sub would interpret "\1" or "\g<0>" in a replacement *string*.
    variables = {**VARIABLES, "vin": r"\1\g<0>"}
    assert substitute("$vin", variables) == r"\1\g<0>"


def test_render_appends_url_encoded_query_parameters():
    variables = {**VARIABLES, "vin": "A&B C=D+E"}
    rendered = render_request_parts(
        target="https://hooks.example/fleet",
        attributes=[
            {"type": "Query", "key": "vin", "value": "$vin"},
            {"type": "Query", "key": "source", "value": "fleetmon #$fleetID"},
        ],
        variables=variables,
    )
    parts = urlsplit(rendered.url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "hooks.example", "/fleet")
    assert "&B" not in parts.query and " " not in parts.query
    assert parse_qsl(parts.query) == [("vin", "A&B C=D+E"), ("source", "fleetmon #fleet-3")]
    assert rendered.headers == {}
    assert rendered.body_attributes == []


def test_render_preserves_existing_query_string():
    rendered = render_request_parts(
        target="https://hooks.example/in?token=abc%2Fdef&x=1#frag",
        attributes=[{"type": "Query", "key": "vid", "value": "$vid"}],
        variables=VARIABLES,
    )
    assert rendered.url == "https://hooks.example/in?token=abc%2Fdef&x=1&vid=veh-42#frag"


def test_render_without_query_attributes_keeps_target_unchanged():
    target = "https://hooks.example/in?a=1"
    rendered = render_request_parts(target=target, attributes=[], variables=VARIABLES)
    assert rendered == RenderedRequest(url=target, headers={}, body_attributes=[])


def test_render_headers_substituted_and_crlf_stripped():
    variables = {**VARIABLES, "vin": "VF1\r\nX-Injected: yes\n"}
    rendered = render_request_parts(
        target="https://hooks.example/",
        attributes=[
            {"type": "Header", "key": "X-Vehicle", "value": "$vin"},
            {"type": "Header", "key": "Authorization", "value": "Bearer fleet-$fleetID"},
        ],
        variables=variables,
    )
    assert rendered.headers == {
        "X-Vehicle": "VF1X-Injected: yes",
        "Authorization": "Bearer fleet-fleet-3",
    }
    assert all("\r" not in v and "\n" not in v for v in rendered.headers.values())
    assert rendered.url == "https://hooks.example/"


def test_render_body_attributes():
    rendered = render_request_parts(
        target="https://hooks.example/",
        attributes=[
            {"type": "Body", "key": "vehicle", "value": "$vin"},
            {"type": "Body", "key": "static", "value": "plain"},
        ],
        variables=VARIABLES,
    )
    assert rendered.body_attributes == [
        {"key": "vehicle", "value": "VF1AB000123456789"},
        {"key": "static", "value": "plain"},
    ]
    assert rendered.url == "https://hooks.example/"
    assert rendered.headers == {}


def test_render_mixed_attributes():
    rendered = render_request_parts(
        target="http://h/p",
        attributes=[
            {"type": "Header", "key": "X-Fleet", "value": "$fleetID"},
            {"type": "Query", "key": "m", "value": "$monitorID"},
            {"type": "Body", "key": "v", "value": "$vid"},
        ],
        variables=VARIABLES,
    )
    assert rendered == RenderedRequest(
        url="http://h/p?m=mon-7",
        headers={"X-Fleet": "fleet-3"},
        body_attributes=[{"key": "v", "value": "veh-42"}],
    )


def test_render_rejects_unknown_attribute_type():
    with pytest.raises(ValueError):
        render_request_parts(
            target="http://h/",
            attributes=[{"type": "Cookie", "key": "k", "value": "v"}],
            variables=VARIABLES,
        )


@pytest.mark.parametrize(
    "attributes, expected",
    [
        ([], False),
        ([{"type": "Query", "key": "v", "value": "$vin"}], True),
        ([{"type": "Query", "key": "v", "value": "$VID"}], True),
        ([{"type": "Header", "key": "X-V", "value": "vehicle $vid"}], True),
        ([{"type": "Header", "key": "X-V", "value": "$Vin"}], True),
        ([{"type": "Body", "key": "v", "value": "$vin"}], False),
        ([{"type": "Body", "key": "v", "value": "$vid"}], False),
        ([{"type": "Query", "key": "f", "value": "$fleetID"}], False),
        ([{"type": "Header", "key": "X-M", "value": "$monitorID"}], False),
        ([{"type": "Query", "key": "v", "value": "$vinyl"}], False),
        # The key is not templated, only the value.
        ([{"type": "Query", "key": "$vin", "value": "x"}], False),
        (
            [
                {"type": "Body", "key": "v", "value": "$vin"},
                {"type": "Query", "key": "f", "value": "$fleetID"},
                {"type": "Header", "key": "X-V", "value": "$vid"},
            ],
            True,
        ),
    ],
)
def test_uses_vehicle_variables(attributes, expected):
    assert uses_vehicle_variables(attributes) is expected


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://hooks.example/in", "https://hooks.example/in"),
        ("https://hooks.example/in?token=s3cret", "https://hooks.example/in?token=***"),
        (
            "https://hooks.example/in?token=s3cret&vin=VF1&empty=",
            "https://hooks.example/in?token=***&vin=***&empty=***",
        ),
        ("https://hooks.example/in?s3cretflag", "https://hooks.example/in?***"),
        (
            "https://user:pa55@hooks.example:8443/in?a=1",
            "https://***@hooks.example:8443/in?a=***",
        ),
        ("https://apikey@hooks.example/in", "https://***@hooks.example/in"),
        ("https://hooks.example/in#s3cret", "https://hooks.example/in"),
        ("http://[2001:db8::1]:8080/p?k=v", "http://[2001:db8::1]:8080/p?k=***"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected
    assert "s3cret" not in redact_url(url)
    assert "pa55" not in redact_url(url)
