"""Our X-Twilio-Signature code agrees with Twilio's own RequestValidator."""

from __future__ import annotations

import hmac
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from connector.sms.twilio import signature

# Twilio's documented example (webhooks security page), and the signature it gives
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
EXPECTED = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_the_documented_vector() -> None:
    assert signature.compute(TOKEN, URL, PARAMS) == EXPECTED
    assert RequestValidator(TOKEN).compute_signature(URL, PARAMS) == EXPECTED
    assert signature.verify(TOKEN, URL, PARAMS, EXPECTED)
    assert not signature.verify(TOKEN, URL, {**PARAMS, "Digits": "1235"}, EXPECTED)
    assert not signature.verify("54321", URL, PARAMS, EXPECTED)
    assert not signature.verify(TOKEN, URL, PARAMS, None)
    assert not signature.verify(TOKEN, URL, PARAMS, "")


_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12
)
_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=1000, deadline=None)
@given(
    params=st.dictionaries(_names, _values, max_size=12),
    token=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    path=st.sampled_from(["/webhooks/twilio/inbound", "/webhooks/twilio/status?k=k1%2Fx"]),
    base=st.sampled_from(
        ["https://sms.example.com", "https://sms.example.com:8443", "http://10.0.0.7:8080"]
    ),
)
def test_agrees_with_the_sdk_on_generated_parameters(
    params: dict[str, str], token: str, path: str, base: str
) -> None:
    url = base + path
    sdk = RequestValidator(token)
    ours = signature.compute(token, url, params)
    assert ours == sdk.compute_signature(url, params)
    assert signature.verify(token, url, params, ours) is sdk.validate(url, params, ours)
    assert signature.verify(token, url, params, ours)
    forged = signature.compute(token + "x", url, params)
    assert signature.verify(token, url, params, forged) is sdk.validate(url, params, forged)
    assert not signature.verify(token, url, params, forged)


def test_port_spellings_are_accepted_as_twilio_signs_either() -> None:
    with_port = "https://sms.example.com:443/webhooks/twilio/inbound"
    without = "https://sms.example.com/webhooks/twilio/inbound"
    sig = signature.compute(TOKEN, with_port, PARAMS)
    assert signature.verify(TOKEN, without, PARAMS, sig)
    assert RequestValidator(TOKEN).validate(without, PARAMS, sig)


def test_the_comparison_is_constant_time() -> None:
    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as spy:
        assert signature.verify(TOKEN, URL, PARAMS, EXPECTED)
    assert spy.call_count >= 1


def test_the_public_url_is_rebuilt_from_the_configured_base() -> None:
    assert (
        signature.public_url("https://sms.example.com/", "/webhooks/twilio/status", "k=a")
        == "https://sms.example.com/webhooks/twilio/status?k=a"
    )
