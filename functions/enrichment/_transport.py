"""What the function's HTTP clients share: whether the environment configures requests, and urllib3's TLS options.

The database and helpdesk clients send their calls over kept-alive connections (`_keptalive`;
the helpdesk's redirects through urllib3, with these TLS options) unless the environment configures something
that requests honours and they would not: a proxy, a netrc file, or, for https, a CA bundle. Then they keep
requests, which reads those on every call.
"""

import os
import urllib.request

_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def environment_configures(url: str) -> bool:
    """True when a proxy, a netrc file or (for an https `url`) a CA bundle is configured for requests."""
    tls = url.lower().startswith("https:")
    return bool(urllib.request.getproxies() or os.environ.get("NETRC")
                or (tls and any(os.environ.get(v) for v in _CA_BUNDLE_VARIABLES))
                or any(os.path.exists(os.path.expanduser(f"~/{n}")) for n in (".netrc", "_netrc")))


def tls_options(url: str) -> dict:
    """urllib3 pool options checking an https server's certificate, as google-auth's and requests' pools do."""
    if not url.lower().startswith("https:"):
        return {}
    try:
        import certifi
    except ImportError:
        return {"cert_reqs": "CERT_REQUIRED"}
    return {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
