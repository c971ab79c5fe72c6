from gateway.log import safe_url


def test_safe_url_drops_credentials_and_query() -> None:
    url = "http://user:secret@prowlarr:9696/1/download?apikey=KEY123&link=abc#frag"
    assert safe_url(url) == "http://prowlarr:9696/1/download"
    assert "KEY123" not in safe_url(url) and "secret" not in safe_url(url)
    assert safe_url("http://host:notaport/x") == "(unreadable URL)"
