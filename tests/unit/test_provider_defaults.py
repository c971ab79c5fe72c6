"""What a service does not offer is answered once, by ``AccountClient``, from its capabilities."""

from __future__ import annotations

import inspect

import pytest

from gateway import errors
from gateway.providers import MODULES
from gateway.providers.common import AccountClient

# capability → the methods a module that declares it must write itself
OFFERED = {"usenet": ("add_nzb", "add_nzb_url"), "cache_check": ("check_cached",),
           "select_files": ("select_files",), "recent_first": ("list_recent",)}


def _client_class(kind: str) -> type[AccountClient]:
    found = [cls for _, cls in inspect.getmembers(MODULES[kind], inspect.isclass)
             if issubclass(cls, AccountClient) and cls is not AccountClient and cls.kind == kind]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("kind", list(MODULES))
def test_a_declared_capability_is_implemented_and_an_undeclared_one_is_the_default(kind: str) -> None:
    cls = _client_class(kind)
    for capability, methods in OFFERED.items():
        for method in methods:
            own = getattr(cls, method) is not getattr(AccountClient, method)
            if getattr(cls.capabilities, capability):
                assert own, f"{kind} declares {capability} but does not write {method}"
            elif capability != "recent_first":   # a cheaper first page may exist without paging
                assert not own, f"{kind} writes {method} without declaring {capability}"


@pytest.mark.parametrize("kind", [k for k in MODULES if not _client_class(k).capabilities.usenet])
def test_an_nzb_at_a_torrent_only_service_is_a_clear_bad_request(kind: str) -> None:
    client = object.__new__(_client_class(kind))   # the defaults touch no HTTP
    with pytest.raises(errors.BadRequest) as refused:
        client.add_nzb(b"<nzb/>", "x")
    assert refused.value.code == "no_usenet" and kind in str(refused.value)
    with pytest.raises(errors.BadRequest):
        client.add_nzb_url("http://example.invalid/x.nzb", "x")
