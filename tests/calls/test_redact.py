"""Credentials in an endpoint URL: taken out wherever a URL is written (evaluation.calls.redact)."""

from evaluation.calls.redact import redact_url, scrub


def test_credentials_are_taken_out_of_urls_and_of_text_quoting_them():
    assert redact_url("https://user:pw@host.example:8443/path?token=abc&x=") == (
        "https://host.example:8443/path?token=***&x"
    )
    assert redact_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert redact_url("http://[::1]:9/") == "http://[::1]:9/"
    message = 'Could not connect to the endpoint URL: "http://u:secret@127.0.0.1:9/?sig=s3cr3t"'
    assert scrub(message) == 'Could not connect to the endpoint URL: "http://127.0.0.1:9/?sig=***"'
    assert scrub("plain http://example.com/a text") == "plain http://example.com/a text"
