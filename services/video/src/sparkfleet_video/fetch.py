"""Fetching a video by URL, for a client that gives one (off unless SPARKFLEET_VIDEO_URL_HOSTS names hosts).

The service must not become a way into what only it can reach (server-side request forgery), so:
- the host must be allowed by name (or `*`);
- its name is resolved once, and every address it resolves to must be global (no loopback, private network,
  link-local such as 169.254.169.254, unspecified 0.0.0.0, IPv4 written as one number or in hex, or IPv4 mapped
  into IPv6) -- unless the host is named in the list, which is the operator saying it is fine;
- the connection goes to that checked address (the name is sent as Host and TLS SNI, and the certificate is
  checked against it): a second lookup cannot answer differently (DNS rebinding);
- redirects are followed here, each checked the same way, at most MAX_REDIRECTS;
- one deadline covers the whole download, however slowly the server trickles;
- no proxy from the environment (it would connect wherever it likes)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from .errors import ApiError
from .uploads import ensure_space, private_file, safe_name, too_large

MAX_REDIRECTS = 5
CONNECT_TIMEOUT_S = 10.0


def check_url(url: str, allowed_hosts: tuple[str, ...] = ("*",)) -> str:
    """A well-formed http(s) URL to a host this service may fetch from (SPARKFLEET_VIDEO_URL_HOSTS)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:  # e.g. an invalid port or IPv6 literal
        host = None
    if host is None or parts.scheme not in ("http", "https") or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise ApiError(422, "invalid_request", "url must be an http:// or https:// URL",
                       "Give a direct link to the video file, or upload it as the file field.")
    if not allowed_hosts:
        raise ApiError(403, "url_sources_off", "fetching videos from URLs is off on this host",
                       "Upload the file instead, or allow hosts with video_endpoint_url_hosts (sparkfleet).")
    if "*" not in allowed_hosts and host.lower() not in allowed_hosts:
        raise ApiError(403, "url_host_not_allowed", f"this service may not fetch from {host}",
                       f"Allowed hosts: {', '.join(allowed_hosts)}. Upload the file instead, or add the host to "
                       "video_endpoint_url_hosts.")
    return url


def url_name(url: str) -> str:
    try:
        return safe_name(unquote(urlsplit(url).path.rsplit("/", 1)[-1]))
    except ValueError:
        return "video"


def public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int, named: bool) -> str:
    """The one address to connect to: every address of the host checked (unless it is allowed by name)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ApiError(422, "url_unreachable", f"the url's host {host[:100]} does not resolve",
                       "Check the host name in the URL.") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise ApiError(422, "url_unreachable", f"the url's host {host[:100]} does not resolve",
                       "Check the host name in the URL.")
    if not named:
        for address in addresses:
            if not public(address):
                raise ApiError(403, "url_address_not_allowed", f"{host[:100]} is {address}, an address that is not "
                               "public (loopback, private network, link-local or reserved)",
                               "Only public addresses are fetched from; the operator can allow a host on the "
                               "local network by naming it in video_endpoint_url_hosts.")
    return addresses[0]


async def fetch_url(url: str, dest: Path, max_bytes: int, allowed_hosts: tuple[str, ...] = ("*",),
                    deadline_s: float = 60.0, reserve: int = 0) -> int:
    """Download `url` to `dest` under the size limit and the address policy above; 413 too_large,
    403 url_host_not_allowed / url_address_not_allowed, 422 url_unreachable, 507 insufficient_storage."""
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        async with asyncio.timeout(deadline_s):
            return await _fetch(url, dest, max_bytes, allowed_hosts, deadline_s, reserve)
    except TimeoutError as exc:
        dest.unlink(missing_ok=True)
        raise ApiError(422, "url_unreachable", f"the download did not finish within {deadline_s:g} s",
                       "Give a link to a server that sends the file quickly, or upload the file.") from exc
    except ApiError:
        dest.unlink(missing_ok=True)
        raise
    except (httpx.InvalidURL, ValueError) as exc:  # bad host name (IDNA), control characters, ...
        dest.unlink(missing_ok=True)
        raise ApiError(422, "invalid_request", f"url is not a valid URL ({exc})"[:300],
                       "Give a direct http(s) link to the video file.") from exc
    except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
        dest.unlink(missing_ok=True)
        raise ApiError(422, "url_unreachable", f"the url could not be fetched ({type(exc).__name__})",
                       "Check that the URL is reachable from the Spark and points at the video file.") from exc


async def _fetch(url: str, dest: Path, max_bytes: int, allowed_hosts: tuple[str, ...], deadline_s: float,
                 reserve: int) -> int:
    timeout = httpx.Timeout(deadline_s, connect=CONNECT_TIMEOUT_S)
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout) as client:
        current = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            check_url(str(current), allowed_hosts)
            host = current.host
            address = await resolve(host, current.port or (443 if current.scheme == "https" else 80),
                                    named=host.lower() in allowed_hosts)
            request = client.build_request(
                "GET", current.copy_with(host=address), headers={"Host": current.netloc.decode("ascii")},
                extensions={"sni_hostname": host} if current.scheme == "https" else {})
            resp = await client.send(request, stream=True)
            try:
                if resp.is_redirect and "location" in resp.headers:
                    current = current.join(resp.headers["location"])
                    continue
                if resp.status_code != 200:
                    raise ApiError(422, "url_unreachable", f"fetching the url answered HTTP {resp.status_code}",
                                   "Check that the URL is a direct, public link to the video file.")
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise too_large(max_bytes)
                ensure_space(dest.parent, reserve, int(declared) if declared and declared.isdigit() else 0)
                written = 0
                with private_file(dest) as fh:
                    async for chunk in resp.aiter_bytes():
                        written += len(chunk)
                        if written > max_bytes:
                            raise too_large(max_bytes)
                        ensure_space(dest.parent, reserve, len(chunk))
                        fh.write(chunk)
                return written
            finally:
                await resp.aclose()
    raise ApiError(422, "url_unreachable", f"the url redirects more than {MAX_REDIRECTS} times",
                   "Give the video's final, direct link.")
