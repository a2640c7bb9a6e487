"""HTTP message signatures for ActivityPub: sign what we send, verify what we receive.

Two wire formats are in use between fediverse servers:

* draft-cavage-http-signatures-12 (``Signature: keyId="…",headers="…",signature="…"``),
  which nearly every server sends and accepts today. :func:`sign_request` produces it the
  way Mastodon does, so every peer can check our deliveries and signed fetches.
* RFC 9421 (``Signature-Input`` + ``Signature`` structured fields), which Mastodon 4.5
  started to accept. :func:`verify_request` accepts it in the profile Mastodon enforces
  (one signature, ``created``, ``@method`` and ``@target-uri`` covered, ``content-digest``
  when there is a body); :func:`sign_request_rfc9421` produces it.

Everything here is pure: no web framework, no database, no network. The caller hands in the
request's method, target, headers and body plus a ``key_resolver`` coroutine that turns a
keyId into a public key (fetching the actor if it has to). Every rejection is a
:class:`SignatureError` whose ``reason`` says what was wrong, so an inbox can log it and
answer 401 without guessing.

Parsed keys are cached (:func:`load_public_key`, :func:`load_private_key`): parsing a PEM
costs tens of milliseconds and must not happen per delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from typing import Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

# RFC 8941 structured fields (Signature-Input, Signature, Content-Digest) are parsed and
# re-serialised with http_sfv, Mark Nottingham's implementation (he edited RFC 8941) that is
# checked against the official structured-field test suite. A home-grown parser would be a
# second, less tested copy of that grammar, and RFC 9421 needs its exact re-serialisation for
# the "@signature-params" line, so getting a corner of it wrong would break interop silently.
import http_sfv
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from http_sfv.util import ser_key

__all__ = [
    "DEFAULT_MAX_SKEW",
    "SUPPORTED_ALGORITHMS",
    "HeadersLike",
    "KeyResolver",
    "PrivateKey",
    "PublicKey",
    "SignatureError",
    "Verified",
    "cavage_signing_string",
    "clear_key_caches",
    "content_digest_header",
    "digest_header",
    "generate_keypair",
    "http_date",
    "load_private_key",
    "load_public_key",
    "rfc9421_signature_base",
    "sign_bytes",
    "sign_request",
    "sign_request_rfc9421",
    "verify_bytes",
    "verify_request",
]

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
#: A case-insensitive mapping (Starlette's and httpx's ``Headers`` are fine: repeated fields
#: come back from ``.items()``), a plain dict, or a sequence of (name, value) pairs.
HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]
#: ``await key_resolver(key_id, refresh)`` gives the key (object or PEM), or None if unknown.
#: ``refresh=True`` asks it to bypass its cache and fetch the key again.
KeyResolver = Callable[[str, bool], Awaitable[PublicKey | str | None]]

#: Seconds a signature's Date / created may be off from our clock, either way.
DEFAULT_MAX_SKEW = 3600
#: RFC 9421 algorithm names this module can check. Signing uses the first and the last.
SUPPORTED_ALGORITHMS = ("rsa-v1_5-sha256", "rsa-pss-sha512", "ed25519")
#: Smaller RSA keys can be factored by anyone, so a signature by one proves nothing.
MIN_RSA_BITS = 1024
PUBLIC_KEY_CACHE_SIZE = 4096
PRIVATE_KEY_CACHE_SIZE = 256

_DEFAULT_PORTS = {"http": 80, "https": 443}
_CAVAGE_ALGORITHMS = ("rsa-sha256", "hs2019")
_DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
_DEFAULT_CONTENT_TYPE = "application/activity+json"
_OBS_FOLD = re.compile(r"\r?\n[ \t]+")
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CAVAGE_PARAM = re.compile(
    r'[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^",\s]+))[ \t]*(?:,|$)'
)
_INTEGER = re.compile(r"[0-9]{1,15}")
_TIMESTAMP = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,3})?")
_FORM_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-._")


class SignatureError(Exception):
    """A signature was missing, malformed, too weak, stale, or did not verify.

    One class for every rejection so an inbox needs a single ``except``; ``reason`` is
    meant for logs and for the 401 body.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Verified:
    """What a successful :func:`verify_request` proved, for authorising the request."""

    key_id: str
    scheme: Literal["cavage", "rfc9421"]
    #: Covered components in signed order: header names and pseudo-headers for cavage,
    #: component identifiers for RFC 9421 (e.g. ``@method``, ``content-digest``).
    components: tuple[str, ...]
    #: Algorithm actually checked: one of :data:`SUPPORTED_ALGORITHMS`.
    algorithm: str
    #: Signature creation time (``created``, else the covered Date), Unix seconds.
    created: int | None
    #: RFC 9421 signature label; None for cavage.
    label: str | None = None


# --------------------------------------------------------------------------- keys

_K = TypeVar("_K")
_S = TypeVar("_S", http_sfv.Dictionary, http_sfv.List)
_PUBLIC_CACHE: OrderedDict[bytes, PublicKey] = OrderedDict()
_PRIVATE_CACHE: OrderedDict[bytes, PrivateKey] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _parse_public_pem(pem: str) -> PublicKey:
    """Parse a public key PEM (SPKI or PKCS#1); the slow step that the cache avoids."""
    key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise ValueError(f"unsupported public key type {type(key).__name__}")
    return key


def _parse_private_pem(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.strip().encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def _cached(cache: OrderedDict[bytes, _K], size: int, pem: str, parse: Callable[[str], _K]) -> _K:
    digest = hashlib.sha256(pem.encode("utf-8")).digest()
    with _CACHE_LOCK:
        found = cache.get(digest)
        if found is not None:
            cache.move_to_end(digest)
            return found
    key = parse(pem)  # outside the lock: two threads may both parse once, which is harmless
    with _CACHE_LOCK:
        cache[digest] = key
        cache.move_to_end(digest)
        while len(cache) > size:
            cache.popitem(last=False)
    return key


def load_public_key(pem: str) -> PublicKey:
    """The parsed key for a PEM, from an LRU cache keyed by the PEM's SHA-256.

    Raises ValueError for text that is not an RSA or Ed25519 public key.
    """
    return _cached(_PUBLIC_CACHE, PUBLIC_KEY_CACHE_SIZE, pem, _parse_public_pem)


def load_private_key(pem: str) -> PrivateKey:
    """The parsed private key for an unencrypted PEM, cached like :func:`load_public_key`."""
    return _cached(_PRIVATE_CACHE, PRIVATE_KEY_CACHE_SIZE, pem, _parse_private_pem)


def clear_key_caches() -> None:
    """Forget every parsed key (tests; or after a local key rotation, to free memory)."""
    with _CACHE_LOCK:
        _PUBLIC_CACHE.clear()
        _PRIVATE_CACHE.clear()


def generate_keypair() -> tuple[str, str]:
    """A fresh RSA-2048 key pair as (private PKCS#8 PEM, public SPKI PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private, public


def sign_bytes(private_key: PrivateKey, data: bytes, algorithm: str) -> bytes:
    """Sign ``data`` with an RFC 9421 algorithm ('rsa-v1_5-sha256' or 'ed25519')."""
    if algorithm == "rsa-v1_5-sha256" and isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if algorithm == "ed25519" and isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    raise ValueError(f"cannot sign with {algorithm} using a {type(private_key).__name__}")


def verify_bytes(public_key: PublicKey, data: bytes, signature: bytes, algorithm: str) -> bool:
    """Whether ``signature`` over ``data`` checks out under ``algorithm`` (RFC 9421 names).

    False also when the key does not fit the algorithm, so a caller cannot be talked into
    checking an RSA signature with the wrong primitive.
    """
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            if algorithm == "rsa-v1_5-sha256":
                public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
                return True
            if algorithm == "rsa-pss-sha512":
                # RFC 9421 §3.3.1: MGF1 with SHA-512 and a 64-byte salt.
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
                public_key.verify(signature, data, pss, hashes.SHA512())
                return True
        elif isinstance(public_key, ed25519.Ed25519PublicKey) and algorithm == "ed25519":
            public_key.verify(signature, data)
            return True
    except InvalidSignature:
        return False
    return False


# ---------------------------------------------------------------- small helpers


def http_date(now: float | None = None) -> str:
    """An RFC 7231 IMF-fixdate such as ``Sun, 05 Jan 2014 21:31:40 GMT``."""
    return formatdate(time.time() if now is None else now, usegmt=True)


def digest_header(body: bytes) -> str:
    """The RFC 3230 ``Digest`` value cavage signers cover: ``SHA-256=<base64>``."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def content_digest_header(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` value: ``sha-256=:<base64>:``."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def _collect_headers(headers: HeadersLike) -> dict[str, list[str]]:
    """Lower-cased name -> every value, in message order (repeated fields stay separate)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    collected: dict[str, list[str]] = {}
    for name, value in items:
        collected.setdefault(name.lower(), []).append(value)
    return collected


def _field_value(values: list[str]) -> str:
    """RFC 9421 §2.1 / cavage §2.3 canonical value: trimmed, unfolded, joined by ', '."""
    parts = []
    for raw in values:
        value = _OBS_FOLD.sub(" ", raw).strip(" \t")
        if "\n" in value or "\r" in value:
            raise SignatureError("a header value contains a line break")
        parts.append(value)
    return ", ".join(parts)


def _authority(scheme: str, host: str, port: int | None) -> str:
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return host
    return f"{host}:{port}"


def _split_url(url: str) -> tuple[str, str, str]:
    """(scheme, normalised authority, origin-form target) of an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("URLs with credentials are not signed")
    host = parts.hostname
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    if not host.isascii():
        raise ValueError("use the ASCII (punycode) form of the host")
    authority = _authority(scheme, host, parts.port)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return scheme, authority, target


def _origin(base_url: str) -> tuple[str, str]:
    """(scheme, authority) of this server's ``base_url``; ValueError if it has a path."""
    scheme, authority, path = _split_url(base_url)
    if path != "/":
        raise ValueError("base_url must be scheme://host[:port] without a path")
    return scheme, authority


def _normalise_host_header(value: str, scheme: str) -> str:
    """A Host header in the same form as :func:`_authority` (lower case, no default port)."""
    try:
        parts = urlsplit(f"{scheme}://{value.strip()}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return value.strip().lower()
    if not host:
        return value.strip().lower()
    return _authority(scheme, host, port)


@dataclass(frozen=True, slots=True)
class _Target:
    """The request's URL in the pieces RFC 9421's derived components need."""

    scheme: str
    authority: str
    request_target: str  # origin form: path plus "?query" as sent

    @classmethod
    def from_url(cls, url: str) -> _Target:
        scheme, authority, target = _split_url(url)
        return cls(scheme, authority, target)

    @classmethod
    def from_base(cls, base_url: str, target: str) -> _Target:
        scheme, authority = _origin(base_url)
        if not target.startswith("/"):
            raise SignatureError("request target is not in origin form")
        return cls(scheme, authority, target)

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.authority}{self.request_target}"

    @property
    def path(self) -> str:
        return self.request_target.partition("?")[0] or "/"

    @property
    def query(self) -> str:
        return self.request_target.partition("?")[2]


# ---------------------------------------------------------------- draft-cavage


def cavage_signing_string(
    method: str,
    target: str,
    headers: HeadersLike,
    covered: Sequence[str],
    params: Mapping[str, str] | None = None,
) -> str:
    """The draft-cavage-12 §2.3 string to sign for ``covered`` (lower-case names, in order).

    ``target`` is the path and query as sent; ``params`` supplies ``created`` / ``expires``
    for the ``(created)`` / ``(expires)`` pseudo-headers.
    """
    return _cavage_string(method, target, _collect_headers(headers), covered, params or {})


def _cavage_string(
    method: str,
    target: str,
    headers: dict[str, list[str]],
    covered: Sequence[str],
    params: Mapping[str, str],
) -> str:
    lines = []
    for name in covered:
        if name == "(request-target)":
            value = f"{method.lower()} {target}"
        elif name in ("(created)", "(expires)"):
            param = name[1:-1]
            if param not in params:
                raise SignatureError(f"{name} is covered but the {param} parameter is missing")
            value = params[param]
        else:
            values = headers.get(name)
            if values is None:
                raise SignatureError(f"covered header {name!r} is missing")
            value = _field_value(values)
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _parse_cavage_params(value: str) -> dict[str, str]:
    """``keyId="…",algorithm="…",…`` as a dict; duplicates are an error (cavage §2.2)."""
    params: dict[str, str] = {}
    pos, end = 0, len(value)
    while pos < end:
        match = _CAVAGE_PARAM.match(value, pos)
        if match is None or match.end() == pos:
            raise SignatureError("malformed Signature header")
        name, quoted, bare = match.groups()
        if name in params:
            raise SignatureError(f"Signature header repeats the {name} parameter")
        params[name] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        pos = match.end()
    if not params:
        raise SignatureError("malformed Signature header")
    return params


def _decode_b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"{what} is not valid base64") from exc


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key: PrivateKey | str,
    *,
    now: float | None = None,
) -> dict[str, str]:
    """The headers that sign an outgoing request the way Mastodon does (draft-cavage-12).

    Returns ``Host``, ``Date`` (unless ``headers`` has one), and for a request with a body
    ``Digest`` and ``Content-Type`` (``application/activity+json`` unless given), plus
    ``Signature``. With a body the signature covers ``(request-target) host date digest
    content-type``; without one ``(request-target) host date`` and ``accept`` if present.
    ``url`` must be exactly what is sent (already percent-encoded, punycode host): the
    ``(request-target)`` includes its query. RSA keys sign as ``rsa-sha256``, Ed25519 keys
    as ``hs2019``.
    """
    _check_quotable(key_id)
    key = load_private_key(private_key) if isinstance(private_key, str) else private_key
    _scheme, authority, target = _split_url(url)
    existing = _collect_headers(headers)
    host = existing.get("host")
    if host is not None and _field_value(host).lower() != authority:
        raise ValueError(f"Host header {host!r} does not match the URL's {authority!r}")
    added: dict[str, str] = {"Host": authority}
    if "date" not in existing:
        added["Date"] = http_date(now)
    covered = ["(request-target)", "host", "date"]
    if body is not None:
        added["Digest"] = digest_header(body)
        if "content-type" not in existing:
            added["Content-Type"] = _DEFAULT_CONTENT_TYPE
        covered += ["digest", "content-type"]
    elif "accept" in existing:
        covered.append("accept")
    merged = {**existing, **{name.lower(): [value] for name, value in added.items()}}
    text = _cavage_string(method, target, merged, covered, {})
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm, label = "rsa-v1_5-sha256", "rsa-sha256"
    else:
        algorithm, label = "ed25519", "hs2019"
    signature = base64.b64encode(sign_bytes(key, text.encode("latin-1"), algorithm)).decode()
    added["Signature"] = (
        f'keyId="{key_id}",algorithm="{label}",headers="{" ".join(covered)}",'
        f'signature="{signature}"'
    )
    return added


def _check_quotable(key_id: str) -> None:
    if not key_id or '"' in key_id or "\\" in key_id or _CONTROL.search(key_id):
        raise ValueError(f"key id {key_id!r} cannot be put in a signature header")


# ---------------------------------------------------------------- RFC 9421


def _parse_sf(value: str, kind: type[_S], what: str) -> _S:
    parsed = kind()
    try:
        parsed.parse(value.encode("ascii"))
    except (ValueError, IndexError, TypeError, UnicodeEncodeError) as exc:
        raise SignatureError(f"malformed {what}") from exc
    return parsed


def rfc9421_signature_base(
    method: str, target_uri: str, headers: HeadersLike, signature_params: str
) -> str:
    """The RFC 9421 §2.5 signature base for a request to ``target_uri``.

    ``signature_params`` is one Signature-Input member value without its label, e.g.
    ``("@method" "@target-uri");created=1618884473;keyid="k"``.
    """
    parsed = _parse_sf(signature_params, http_sfv.List, "signature parameters")
    if len(parsed) != 1 or not isinstance(parsed[0], http_sfv.InnerList):
        raise SignatureError("signature parameters must be one inner list")
    return _signature_base(
        method, _Target.from_url(target_uri), _collect_headers(headers), parsed[0]
    )


def _component_name(item: http_sfv.Item) -> str:
    # http_sfv's Token subclasses str: require a real String, as RFC 9421 §2 does.
    if type(item.value) is not str:
        raise SignatureError("a covered component is not a quoted string")
    return item.value


def _signature_base(
    method: str, target: _Target, headers: dict[str, list[str]], covered: http_sfv.InnerList
) -> str:
    lines = []
    seen = set()
    for item in covered:
        if not isinstance(item, http_sfv.Item):
            raise SignatureError("malformed covered components")
        name = _component_name(item)
        identity = (name, frozenset((k, repr(v)) for k, v in item.params.items()))
        if identity in seen:
            raise SignatureError(f"component {item} is covered twice")
        seen.add(identity)
        value = _component_value(name, dict(item.params), method, target, headers)
        lines.append(f"{item}: {value}")
    lines.append(f'"@signature-params": {covered}')
    base = "\n".join(lines)
    if not base.isascii():
        raise SignatureError("signature base contains non-ASCII characters")
    return base


def _component_value(
    name: str,
    params: dict[str, object],
    method: str,
    target: _Target,
    headers: dict[str, list[str]],
) -> str:
    if name.startswith("@"):
        if name == "@query-param":
            wanted = params.get("name")
            if set(params) != {"name"} or type(wanted) is not str:
                raise SignatureError('"@query-param" needs exactly one string name parameter')
            return _query_param(target.query, wanted)
        if params:
            raise SignatureError(f"unsupported parameters on {name}")
        derived = {
            "@method": lambda: method,
            "@target-uri": lambda: target.uri,
            "@authority": lambda: target.authority,
            "@scheme": lambda: target.scheme,
            "@request-target": lambda: target.request_target,
            "@path": lambda: target.path,
            "@query": lambda: "?" + target.query,
        }.get(name)
        if derived is None:
            raise SignatureError(f"unsupported derived component {name}")
        value = derived()
        if _CONTROL.search(value) or value != value.strip():
            raise SignatureError(f"{name} has characters a signature base cannot hold")
        return value
    if params:
        raise SignatureError(f'unsupported parameters on "{name}"')
    if not _FIELD_NAME.fullmatch(name):
        raise SignatureError(f"{name!r} is not a lower-case field name")
    values = headers.get(name)
    if values is None:
        raise SignatureError(f"covered header {name!r} is missing")
    return _field_value(values)


def _form_encode(text: str) -> str:
    """WHATWG application/x-www-form-urlencoded percent-encoding, spaces as %20 (§2.2.8)."""
    return "".join(
        chr(byte) if byte in _FORM_SAFE else f"%{byte:02X}" for byte in text.encode("utf-8")
    )


def _query_param(query: str, wanted: str) -> str:
    # parse_qsl follows the WHATWG form-urlencoded parser: split on "&", "+" is a space,
    # percent-decode as UTF-8 with replacement characters.
    values = [
        value
        for name, value in parse_qsl(query, keep_blank_values=True)
        if _form_encode(name) == wanted
    ]
    if not values:
        raise SignatureError(f"covered query parameter {wanted!r} is missing")
    if len(values) > 1:
        raise SignatureError(f"covered query parameter {wanted!r} occurs more than once")
    return _form_encode(values[0])


def sign_request_rfc9421(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key: PrivateKey | str,
    *,
    now: float | None = None,
    label: str = "sig1",
    components: Sequence[str] | None = None,
    expires: int | None = None,
    nonce: str | None = None,
    tag: str | None = None,
) -> dict[str, str]:
    """The headers that sign a request per RFC 9421, in the form Mastodon 4.5 checks.

    Covers ``@method`` and ``@target-uri``, and with a body ``content-digest`` and
    ``content-type`` (adding ``Content-Digest`` and, unless given, ``Content-Type``);
    ``components`` overrides that list. Parameters are ``created``, ``expires`` if given,
    ``keyid``, ``alg`` (``rsa-v1_5-sha256`` or ``ed25519`` from the key), ``nonce``, ``tag``.
    """
    ser_key(label)  # ValueError for a label that cannot be a dictionary key
    key = load_private_key(private_key) if isinstance(private_key, str) else private_key
    algorithm = "rsa-v1_5-sha256" if isinstance(key, rsa.RSAPrivateKey) else "ed25519"
    existing = _collect_headers(headers)
    added: dict[str, str] = {}
    default = ["@method", "@target-uri"]
    if body is not None:
        added["Content-Digest"] = content_digest_header(body)
        if "content-type" not in existing:
            added["Content-Type"] = _DEFAULT_CONTENT_TYPE
        default += ["content-digest", "content-type"]
    merged = {**existing, **{name.lower(): [value] for name, value in added.items()}}
    covered = http_sfv.InnerList([http_sfv.Item(name) for name in components or default])
    covered.params["created"] = int(time.time() if now is None else now)
    if expires is not None:
        covered.params["expires"] = expires
    covered.params["keyid"] = key_id
    covered.params["alg"] = algorithm
    if nonce is not None:
        covered.params["nonce"] = nonce
    if tag is not None:
        covered.params["tag"] = tag
    base = _signature_base(method, _Target.from_url(url), merged, covered)
    signature = base64.b64encode(sign_bytes(key, base.encode("ascii"), algorithm)).decode()
    added["Signature-Input"] = f"{label}={covered}"
    added["Signature"] = f"{label}=:{signature}:"
    return added


# ---------------------------------------------------------------- verification


@dataclass(slots=True)
class _Pending:
    """A signature that passed every policy check and only awaits the key."""

    key_id: str
    scheme: Literal["cavage", "rfc9421"]
    components: tuple[str, ...]
    signed: bytes
    signature: bytes
    #: RFC 9421 algorithm demanded by the sender, None if it is to follow from the key.
    algorithm: str | None
    #: Cavage's "rsa-sha256" only allows RSA keys.
    rsa_only: bool
    created: int | None
    label: str | None


async def verify_request(
    method: str,
    target: str,
    headers: HeadersLike,
    body: bytes | None,
    *,
    key_resolver: KeyResolver,
    base_url: str | None = None,
    now: float | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
) -> Verified:
    """Check an incoming request's signature; return what it proves or raise SignatureError.

    ``target`` is the request target exactly as received (raw path plus ``?query``, not
    percent-decoded). ``base_url`` is this server's public ``scheme://host[:port]``: RFC 9421
    needs it to rebuild ``@target-uri``, and for cavage the Host header must name it.
    A request with ``Signature-Input`` is checked as RFC 9421, else ``Signature`` as
    draft-cavage. Every policy check runs before the key is looked up, so a bad request
    costs no key fetch. If the signature does not verify, the key is fetched once more with
    ``refresh=True`` (the sender may have rotated it) and checked again; never more.
    """
    if base_url is not None:
        _origin(base_url)  # a misconfigured base_url is our bug, not the sender's: ValueError
    received = _collect_headers(headers)
    moment = time.time() if now is None else now
    payload = body or b""
    if "signature-input" in received:
        pending = _prepare_rfc9421(method, target, received, payload, base_url, moment, max_skew)
    elif "signature" in received:
        pending = _prepare_cavage(method, target, received, payload, base_url, moment, max_skew)
    else:
        raise SignatureError("request is not signed")

    reason = ""
    for refresh in (False, True):
        key = await _resolve(key_resolver, pending.key_id, refresh)
        algorithm, reason = _algorithm_for(pending, key)
        if algorithm is not None and verify_bytes(
            key, pending.signed, pending.signature, algorithm
        ):
            return Verified(
                key_id=pending.key_id,
                scheme=pending.scheme,
                components=pending.components,
                algorithm=algorithm,
                created=pending.created,
                label=pending.label,
            )
    raise SignatureError(reason)


async def _resolve(key_resolver: KeyResolver, key_id: str, refresh: bool) -> PublicKey:
    found = await key_resolver(key_id, refresh)
    if found is None:
        raise SignatureError(f"no public key is known for keyId {key_id!r}")
    if isinstance(found, str):
        try:
            return load_public_key(found)
        except ValueError as exc:
            raise SignatureError(f"the key for {key_id!r} is not a usable public key") from exc
    return found


def _algorithm_for(pending: _Pending, key: PublicKey) -> tuple[str | None, str]:
    """The algorithm to check with this key, or None and why the key cannot be used."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return None, f"RSA key of {key.key_size} bits is too small"
        algorithm = pending.algorithm or "rsa-v1_5-sha256"
        if algorithm.startswith("rsa-"):
            return algorithm, "signature does not verify with the sender's key"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        algorithm = pending.algorithm or "ed25519"
        if algorithm == "ed25519" and not pending.rsa_only:
            return algorithm, "signature does not verify with the sender's key"
    else:
        return None, f"unsupported key type {type(key).__name__}"
    return None, "the sender's key does not fit the signature algorithm"


def _check_time(when: float, now: float, max_skew: int, what: str) -> None:
    if when < now - max_skew:
        raise SignatureError(f"{what} is too old")
    if when > now + max_skew:
        raise SignatureError(f"{what} is in the future")


def _check_host(headers: dict[str, list[str]], base_url: str | None) -> None:
    if base_url is None:
        return
    scheme, authority = _origin(base_url)
    host = _normalise_host_header(_field_value(headers["host"]), scheme)
    if host != authority:
        raise SignatureError(f"Host {host!r} is not this server ({authority!r})")


def _check_digest(value: str, body: bytes) -> None:
    """RFC 3230 ``Digest``: every SHA-256/SHA-512 value offered must match the body."""
    checked = False
    for part in value.split(","):
        algorithm, sep, encoded = part.strip().partition("=")
        hasher = _DIGESTS.get(algorithm.strip().lower())
        if not sep or hasher is None:
            continue
        if _decode_b64(encoded.strip(), "Digest value") != hasher(body).digest():
            raise SignatureError("body does not match the Digest header")
        checked = True
    if not checked:
        raise SignatureError("Digest header has no SHA-256 or SHA-512 value")


def _check_content_digest(value: str, body: bytes) -> None:
    """RFC 9530 ``Content-Digest``: every sha-256/sha-512 member must match the body."""
    members = _parse_sf(value, http_sfv.Dictionary, "Content-Digest header")
    checked = False
    for algorithm, member in members.items():
        hasher = _DIGESTS.get(algorithm)
        if hasher is None:
            continue
        if not isinstance(member, http_sfv.Item) or not isinstance(member.value, bytes):
            raise SignatureError("malformed Content-Digest header")
        if member.value != hasher(body).digest():
            raise SignatureError("body does not match the Content-Digest header")
        checked = True
    if not checked:
        raise SignatureError("Content-Digest header has no sha-256 or sha-512 value")


def _check_body(
    method: str,
    headers: dict[str, list[str]],
    body: bytes,
    covered_fields: set[str],
    accepted: tuple[str, ...],
) -> None:
    """A body (and any POST) needs a covered digest header, and covered digests must match."""
    if (body or method.upper() == "POST") and not covered_fields.intersection(accepted):
        raise SignatureError(f"signature must cover {' or '.join(accepted)} for a request body")
    for name, check in (("digest", _check_digest), ("content-digest", _check_content_digest)):
        if name in covered_fields:
            values = headers.get(name)
            if values is None:
                raise SignatureError(f"covered header {name!r} is missing")
            check(_field_value(values), body)


def _prepare_cavage(
    method: str,
    target: str,
    headers: dict[str, list[str]],
    body: bytes,
    base_url: str | None,
    now: float,
    max_skew: int,
) -> _Pending:
    params = _parse_cavage_params(_field_value(headers["signature"]))
    key_id, encoded = params.get("keyId"), params.get("signature")
    if not key_id or not encoded:
        raise SignatureError("Signature header needs keyId and signature")
    algorithm = params.get("algorithm", "hs2019").lower()
    if algorithm not in _CAVAGE_ALGORITHMS:
        raise SignatureError(f"unsupported signature algorithm {algorithm!r}")
    default = "(created)" if algorithm == "hs2019" else "date"
    covered = params.get("headers", default).lower().split()
    if not covered:
        raise SignatureError("Signature header covers no headers")
    fields = set(covered)
    if "(request-target)" not in fields:
        raise SignatureError("signature must cover (request-target)")
    if "host" not in fields:
        raise SignatureError("signature must cover host")
    if "date" not in fields and "(created)" not in fields:
        raise SignatureError("signature must cover date or (created)")
    if algorithm == "rsa-sha256" and fields & {"(created)", "(expires)"}:
        raise SignatureError("(created) and (expires) are not allowed with rsa-sha256")
    if "host" not in headers:
        raise SignatureError("covered header 'host' is missing")
    _check_host(headers, base_url)

    created: int | None = None
    if "(created)" in fields:
        raw = params.get("created", "")
        if not _INTEGER.fullmatch(raw):
            raise SignatureError("created parameter is not an integer")
        created = int(raw)
        _check_time(created, now, max_skew, "signature creation time")
    if "date" in fields:
        date = _parse_http_date(headers.get("date"))
        _check_time(date, now, max_skew, "Date header")
        created = int(date) if created is None else created
    if "expires" in params:
        if not _TIMESTAMP.fullmatch(params["expires"]):
            raise SignatureError("expires parameter is not a timestamp")
        if float(params["expires"]) < now:
            raise SignatureError("signature has expired")

    _check_body(method, headers, body, fields, ("digest", "content-digest"))
    text = _cavage_string(method, target, headers, covered, params)
    try:
        signed = text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise SignatureError("signed headers are not Latin-1") from exc
    return _Pending(
        key_id=key_id,
        scheme="cavage",
        components=tuple(covered),
        signed=signed,
        signature=_decode_b64(encoded, "signature"),
        algorithm=None,
        rsa_only=algorithm == "rsa-sha256",
        created=created,
        label=None,
    )


def _parse_http_date(values: list[str] | None) -> float:
    if values is None:
        raise SignatureError("covered header 'date' is missing")
    try:
        parsed = parsedate_to_datetime(_field_value(values))
    except (TypeError, ValueError, IndexError) as exc:
        raise SignatureError("Date header is not an HTTP date") from exc
    if parsed.tzinfo is None:  # "-0000": UTC with no claim about local time
        return parsed.replace(tzinfo=UTC).timestamp()
    return parsed.timestamp()


def _prepare_rfc9421(
    method: str,
    target: str,
    headers: dict[str, list[str]],
    body: bytes,
    base_url: str | None,
    now: float,
    max_skew: int,
) -> _Pending:
    if "signature" not in headers:
        raise SignatureError("Signature-Input without a Signature header")
    inputs = _parse_sf(
        _field_value(headers["signature-input"]), http_sfv.Dictionary, "Signature-Input header"
    )
    values = _parse_sf(_field_value(headers["signature"]), http_sfv.Dictionary, "Signature header")
    if len(inputs) != 1 or len(values) != 1:
        raise SignatureError("exactly one RFC 9421 signature is accepted")
    (label, covered), (value_label, value) = next(iter(inputs.items())), next(iter(values.items()))
    if label != value_label:
        raise SignatureError("Signature-Input and Signature labels differ")
    if not isinstance(covered, http_sfv.InnerList):
        raise SignatureError("malformed Signature-Input header")
    if not isinstance(value, http_sfv.Item) or not isinstance(value.value, bytes):
        raise SignatureError("malformed Signature header")

    sig_params = covered.params
    key_id = sig_params.get("keyid")
    if type(key_id) is not str or not key_id:
        raise SignatureError("signature has no keyid")
    created = sig_params.get("created")
    if type(created) is not int:
        raise SignatureError("signature has no integer created parameter")
    expires = sig_params.get("expires")
    if expires is not None and type(expires) is not int:
        raise SignatureError("expires parameter is not an integer")
    algorithm = sig_params.get("alg")
    if algorithm is not None and (
        type(algorithm) is not str or algorithm not in SUPPORTED_ALGORITHMS
    ):
        raise SignatureError(f"unsupported signature algorithm {algorithm!r}")

    names = []
    for item in covered:
        if not isinstance(item, http_sfv.Item):
            raise SignatureError("malformed covered components")
        names.append(_component_name(item) if not item.params else str(item))
    plain = {str(item.value) for item in covered if not item.params}
    if not {"@method", "@target-uri"} <= plain:
        raise SignatureError("signature must cover @method and @target-uri")
    _check_time(created, now, max_skew, "signature creation time")
    if expires is not None and expires < now:
        raise SignatureError("signature has expired")
    _check_body(
        method, headers, body, {n for n in plain if not n.startswith("@")}, ("content-digest",)
    )
    if base_url is None:
        raise SignatureError("cannot check an RFC 9421 signature without this server's base_url")
    base = _signature_base(method, _Target.from_base(base_url, target), headers, covered)
    return _Pending(
        key_id=key_id,
        scheme="rfc9421",
        components=tuple(names),
        signed=base.encode("ascii"),
        signature=value.value,
        algorithm=algorithm,
        rsa_only=False,
        created=created,
        label=label,
    )
