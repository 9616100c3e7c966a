"""Fixtures of the integration suites: real proxies on loopback (see tests/proxies.py)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.proxies import Proxy, ProxyProcess, RelayProxy, microsocks, tinyproxy


def _http_proxy(folder: Path, auth: bool) -> Iterator[Proxy]:
    proxy: Proxy | None = tinyproxy(folder, auth)
    if proxy is None:
        warnings.warn("tinyproxy is not installed: using the in-test CONNECT relay instead", stacklevel=1)
        proxy = RelayProxy(auth)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def http_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    yield from _http_proxy(tmp_path_factory.mktemp("tinyproxy"), auth=False)


@pytest.fixture(scope="module")
def http_proxy_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    yield from _http_proxy(tmp_path_factory.mktemp("tinyproxy"), auth=True)


def _socks_proxy(auth: bool) -> Iterator[ProxyProcess]:
    pytest.importorskip("python_socks", reason="the socks extra (python-socks) is not installed")
    proxy = microsocks(auth)
    if proxy is None:
        pytest.skip("microsocks is not installed (.ci/run installs it)")
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def socks_proxy() -> Iterator[ProxyProcess]:
    yield from _socks_proxy(auth=False)


@pytest.fixture(scope="module")
def socks_proxy_auth() -> Iterator[ProxyProcess]:
    yield from _socks_proxy(auth=True)
