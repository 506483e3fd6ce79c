"""Per-instance state: sessions skip the environment lookups only when nothing is configured there."""

import pytest
import requests

from enrichment.runtime import skip_environment_lookups


@pytest.fixture
def bare_environment(monkeypatch, tmp_path):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                 "NETRC"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    return monkeypatch


@pytest.mark.parametrize("url", ["https://acme.zendesk.com", "http://127.0.0.1:5005"])
def test_without_proxies_ca_bundles_or_netrc_the_environment_is_not_searched_per_request(bare_environment, url):
    session = requests.Session()
    skip_environment_lookups(session, url)
    assert session.trust_env is False


def test_a_ca_bundle_does_not_matter_to_plain_http(bare_environment):
    bare_environment.setenv("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem")
    session = requests.Session()
    skip_environment_lookups(session, "http://127.0.0.1:9000")
    assert session.trust_env is False


def test_on_the_reference_api_the_database_session_of_firebase_admin_is_the_one_changed(bare_environment):
    import firebase_admin

    from enrichment.runtime import FirebaseTickets

    app = firebase_admin.initialize_app(options={"databaseURL": "http://127.0.0.1:9?ns=demo-x"}, name="runtime-test")
    try:
        tickets = FirebaseTickets(app, fast=False)
        assert tickets.transport == "firebase-admin"
        assert tickets._root._client.session.trust_env is False
    finally:
        firebase_admin.delete_app(app)


@pytest.mark.parametrize("name, value", [("HTTPS_PROXY", "http://proxy.internal:3128"),
                                         ("https_proxy", "http://proxy.internal:3128"),
                                         ("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem"),
                                         ("NETRC", "/etc/netrc")])
def test_a_configured_proxy_ca_bundle_or_netrc_is_still_honoured(bare_environment, name, value):
    bare_environment.setenv(name, value)
    session = requests.Session()
    skip_environment_lookups(session, "https://acme.zendesk.com")
    assert session.trust_env is True


def test_a_netrc_file_in_home_is_still_honoured(bare_environment, tmp_path):
    (tmp_path / ".netrc").write_text("machine example.com login a password b\n")
    session = requests.Session()
    skip_environment_lookups(session, "https://acme.zendesk.com")
    assert session.trust_env is True
