"""HTTP signatures: published test vectors, round trips and hostile requests.

Known answers come from draft-cavage-http-signatures-12 Appendix C and RFC 9421 (sections
2.5, 3.2 and Appendix B); the files and their sources are in tests/data/httpsig/SOURCES.txt.
Everything runs offline with fixed clocks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from federation import httpsig
from federation.httpsig import (
    SignatureError,
    Verified,
    cavage_signing_string,
    load_private_key,
    load_public_key,
    rfc9421_signature_base,
    sign_bytes,
    sign_request,
    sign_request_rfc9421,
    verify_bytes,
    verify_request,
)

DATA = Path(__file__).parent / "data" / "httpsig"

BASE_URL = "https://social.example"
INBOX = "/users/alice/inbox"
OUTBOX_PAGE = "/users/bob/outbox?page=2&min_id=7"
KEY_ID = "https://remote.example/users/bob#main-key"
NOW = 1_700_000_000.0
BODY = b'{"type":"Create","actor":"https://remote.example/users/bob"}'


def _pem(name: str) -> str:
    return (DATA / name).read_text()


# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _fresh_key_caches() -> None:
    httpsig.clear_key_caches()


@pytest.fixture(scope="module")
def sender() -> rsa.RSAPrivateKey:
    """RFC 9421's test-key-rsa: a fixed 2048-bit key, so no key generation per test."""
    key = load_private_key(_pem("rfc9421-test-key-rsa.pem"))
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="module")
def stranger() -> rsa.RSAPrivateKey:
    """Some other RSA key: signatures by it must not pass as the sender's."""
    key = load_private_key(_pem("cavage-test-key.pem"))
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    key = load_private_key(_pem("rfc9421-test-key-ed25519.pem"))
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


class Resolver:
    """A key_resolver that hands out ``answers`` in turn and records every call."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, bool]] = []

    async def __call__(self, key_id: str, refresh: bool) -> object:
        self.calls.append((key_id, refresh))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def _post_headers(key, body: bytes = BODY, *, now: float = NOW, url: str = BASE_URL + INBOX):
    return sign_request("POST", url, {}, body, KEY_ID, key, now=now)


async def _verify(method, target, headers, body, resolver, *, now=NOW, base_url=BASE_URL):
    return await verify_request(
        method, target, headers, body, key_resolver=resolver, base_url=base_url, now=now
    )


async def _rejected(method, target, headers, body, resolver, *, now=NOW, base_url=BASE_URL):
    with pytest.raises(SignatureError) as caught:
        await _verify(method, target, headers, body, resolver, now=now, base_url=base_url)
    return caught.value.reason


def _cavage_header(key, covered, method, target, headers, *, algorithm="rsa-sha256", extra=""):
    """A hand-made cavage Signature header, for shapes our own signer never produces."""
    params = dict(re.findall(r"(\w+)=(\d+)", extra))
    text = cavage_signing_string(method, target, headers, covered, params)
    scheme = "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "rsa-v1_5-sha256"
    signature = base64.b64encode(sign_bytes(key, text.encode(), scheme)).decode()
    return (
        f'keyId="{KEY_ID}",algorithm="{algorithm}",{extra}'
        f'headers="{" ".join(covered)}",signature="{signature}"'
    )


# ------------------------------------------------- draft-cavage-12 Appendix C

CAVAGE_DATE = "Sun, 05 Jan 2014 21:31:40 GMT"
CAVAGE_NOW = 1_388_957_500.0  # 2014-01-05T21:31:40Z is 1388957500
CAVAGE_HEADERS = {
    "Host": "example.com",
    "Date": CAVAGE_DATE,
    "Content-Type": "application/json",
    "Digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "Content-Length": "18",
}
CAVAGE_BODY = b'{"hello": "world"}'
CAVAGE_TARGET = "/foo?param=value&pet=dog"
# C.1 "Default Test" and C.2 "Basic Test" signature values, unwrapped.
CAVAGE_C1_SIGNATURE = (
    "SjWJWbWN7i0wzBvtPl8rbASWz5xQW6mcJmn+ibttBqtifLN7Sazz6m79cNfwwb8DMJ5cou1s7uEGKKCs+FLEEaDV5lp7"
    "q25WqS+lavg7T8hc0GppauB6hbgEKTwblDHYGEtbGmtdHgVCk9SuS13F0hZ8FD0k/5OxEPXe5WozsbM="
)
CAVAGE_C2_SIGNATURE = (
    "qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe"
    "8VfEdKFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="
)
CAVAGE_C2_STRING = (
    "(request-target): post /foo?param=value&pet=dog\n"
    "host: example.com\n"
    "date: Sun, 05 Jan 2014 21:31:40 GMT"
)


def test_cavage_c2_signing_string_matches_the_draft() -> None:
    covered = ["(request-target)", "host", "date"]
    text = cavage_signing_string("POST", CAVAGE_TARGET, CAVAGE_HEADERS, covered)
    assert text == CAVAGE_C2_STRING


def test_cavage_c1_and_c2_published_signatures_verify() -> None:
    public = load_public_key(_pem("cavage-test-key.pub.pem"))
    c2 = base64.b64decode(CAVAGE_C2_SIGNATURE)
    assert verify_bytes(public, CAVAGE_C2_STRING.encode(), c2, "rsa-v1_5-sha256")
    assert not verify_bytes(public, CAVAGE_C2_STRING.encode() + b" ", c2, "rsa-v1_5-sha256")
    c1_string = cavage_signing_string("POST", CAVAGE_TARGET, CAVAGE_HEADERS, ["date"])
    assert c1_string == "date: Sun, 05 Jan 2014 21:31:40 GMT"
    c1 = base64.b64decode(CAVAGE_C1_SIGNATURE)
    assert verify_bytes(public, c1_string.encode(), c1, "rsa-v1_5-sha256")


def test_cavage_c2_reproduced_exactly_by_our_signer() -> None:
    added = sign_request(
        "POST",
        "https://example.com/foo?param=value&pet=dog",
        {"Date": CAVAGE_DATE},
        None,  # C.2 signs no body headers
        "Test",
        _pem("cavage-test-key.pem"),
    )
    assert added == {
        "Host": "example.com",
        "Signature": (
            'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",'
            f'signature="{CAVAGE_C2_SIGNATURE}"'
        ),
    }


async def test_cavage_c2_request_is_refused_by_policy_for_its_unsigned_body() -> None:
    # The C.2 signature is genuine, but it leaves the POST body unprotected.
    headers = {
        **CAVAGE_HEADERS,
        "Signature": (
            'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",'
            f'signature="{CAVAGE_C2_SIGNATURE}"'
        ),
    }
    resolver = Resolver(_pem("cavage-test-key.pub.pem"))
    reason = await _rejected(
        "POST", CAVAGE_TARGET, headers, CAVAGE_BODY, resolver,
        now=CAVAGE_NOW, base_url="https://example.com",
    )  # fmt: skip
    assert "digest" in reason
    assert resolver.calls == []  # refused before any key lookup


async def test_cavage_c2_shape_verifies_end_to_end_once_the_body_is_signed(stranger) -> None:
    # The C.2 request with a signature that also covers its Digest passes every rule.
    covered = ["(request-target)", "host", "date", "digest"]
    headers = {
        **CAVAGE_HEADERS,
        "Signature": _cavage_header(stranger, covered, "POST", CAVAGE_TARGET, CAVAGE_HEADERS),
    }
    resolver = Resolver(_pem("cavage-test-key.pub.pem"))
    verified = await _verify(
        "POST", CAVAGE_TARGET, headers, CAVAGE_BODY, resolver,
        now=CAVAGE_NOW + 60, base_url="https://example.com",
    )  # fmt: skip
    assert verified == Verified(
        key_id=KEY_ID,
        scheme="cavage",
        components=("(request-target)", "host", "date", "digest"),
        algorithm="rsa-v1_5-sha256",
        created=int(CAVAGE_NOW),
    )


# ---------------------------------------------------------------- RFC 9421 vectors


def _unwrap(text: str) -> str:
    """Undo RFC 8792 single-backslash line wrapping."""
    return re.sub(r"\\\n[ \t]*", "", text)


def _examples() -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (DATA / "rfc9421-examples.txt").read_text().splitlines():
        if line.startswith("=== "):
            current = sections.setdefault(line[4:].split(":", 1)[0], [])
        elif current is not None:
            current.append(line)
    return {name: _unwrap("\n".join(lines)) for name, lines in sections.items()}


EXAMPLES = _examples()


def _message(text: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """(method, target, header pairs in order, body) of an HTTP/1.1 request example."""
    head, _, body = text.partition("\n\n")
    request_line, *lines = head.split("\n")
    method, target, _version = request_line.split(" ")
    pairs = [tuple(line.split(":", 1)) for line in lines]
    return method, target, [(name, value.strip()) for name, value in pairs], body.encode()


def _fields(text: str) -> tuple[str, str, bytes]:
    """(label, Signature-Input member value, signature bytes) of an example's two fields."""
    values = dict(line.split(": ", 1) for line in text.split("\n"))
    label, member = values["Signature-Input"].split("=", 1)
    sig_label, encoded = values["Signature"].split("=", 1)
    assert sig_label == label
    return label, member, base64.b64decode(encoded.strip(":"))


def _test_request() -> tuple[str, str, list[tuple[str, str]], bytes]:
    return _message(EXAMPLES["TEST_REQUEST"])


def test_rfc9421_test_request_content_digest_matches_its_body() -> None:
    _, _, headers, body = _test_request()
    digest = dict(headers)["Content-Digest"]
    assert digest == "sha-512=:" + base64.b64encode(hashlib.sha512(body).digest()).decode() + ":"


@pytest.mark.parametrize(
    ("fields", "base"),
    [
        ("B_2_1_FIELDS", "B_2_1_BASE"),
        ("B_2_2_FIELDS", "B_2_2_BASE"),
        ("B_2_3_FIELDS", "B_2_3_BASE"),
        ("B_2_5_FIELDS", "B_2_5_BASE"),
        ("B_2_6_FIELDS", "B_2_6_BASE"),
    ],
)
def test_rfc9421_appendix_b2_signature_bases(fields: str, base: str) -> None:
    method, target, headers, _ = _test_request()
    _, member, _ = _fields(EXAMPLES[fields])
    uri = "https://example.com" + target
    assert rfc9421_signature_base(method, uri, headers, member) == EXAMPLES[base]


def test_rfc9421_section_2_5_signature_base() -> None:
    method, target, headers, _ = _test_request()
    member = (
        '("@method" "@authority" "@path" "content-digest" "content-length" "content-type")'
        ';created=1618884473;keyid="test-key-rsa-pss"'
    )
    base = rfc9421_signature_base(method, "https://example.com" + target, headers, member)
    assert base == EXAMPLES["SEC_2_5_BASE"]


def _pss_key() -> httpsig.PublicKey:
    return load_public_key(_pem("rfc9421-test-key-rsa-pss.pub.pem"))


@pytest.mark.parametrize("example", ["B_2_1", "B_2_2", "B_2_3"])
def test_rfc9421_published_rsa_pss_signatures_verify(example: str) -> None:
    _, _, signature = _fields(EXAMPLES[f"{example}_FIELDS"])
    base = EXAMPLES[f"{example}_BASE"].encode()
    assert verify_bytes(_pss_key(), base, signature, "rsa-pss-sha512")
    tampered = base.replace(b"created=1618884473", b"created=1618884474")
    assert tampered != base
    assert not verify_bytes(_pss_key(), tampered, signature, "rsa-pss-sha512")
    # The same bytes are no PKCS#1 v1.5 signature: the algorithm is not guessable.
    assert not verify_bytes(_pss_key(), base, signature, "rsa-v1_5-sha256")


def test_rfc9421_section_3_2_signed_request_verifies() -> None:
    method, target, headers, _ = _message(EXAMPLES["SEC_3_2_MESSAGE"])
    _, member = dict(headers)["Signature-Input"].split("=", 1)
    _, encoded = dict(headers)["Signature"].split("=", 1)
    base = rfc9421_signature_base(method, "https://example.com" + target, headers, member)
    assert base == EXAMPLES["SEC_2_5_BASE"]
    signature = base64.b64decode(encoded.strip(":"))
    assert verify_bytes(_pss_key(), base.encode(), signature, "rsa-pss-sha512")


def test_rfc9421_b25_hmac_signature_confirms_the_base() -> None:
    # We do not accept HMAC signatures, but the published MAC pins our base byte for byte.
    secret = base64.b64decode((DATA / "rfc9421-test-shared-secret.b64").read_text().strip())
    _, _, signature = _fields(EXAMPLES["B_2_5_FIELDS"])
    mac = hmac.new(secret, EXAMPLES["B_2_5_BASE"].encode(), hashlib.sha256).digest()
    assert mac == signature


def test_rfc9421_b26_ed25519_signature_verifies_and_is_reproduced(ed_key) -> None:
    _, _, signature = _fields(EXAMPLES["B_2_6_FIELDS"])
    base = EXAMPLES["B_2_6_BASE"].encode()
    public = load_public_key(_pem("rfc9421-test-key-ed25519.pub.pem"))
    assert verify_bytes(public, base, signature, "ed25519")
    assert sign_bytes(ed_key, base, "ed25519") == signature  # Ed25519 is deterministic


@pytest.mark.parametrize("example", ["B_4_MESSAGE", "B_4_VALID_1", "B_4_VALID_2", "B_4_VALID_3"])
def test_rfc9421_b4_transformations_keep_the_signature_valid(example: str) -> None:
    method, target, headers, _ = _message(EXAMPLES[example])
    fields = dict(headers)
    _, member = fields["Signature-Input"].split("=", 1)
    signature = base64.b64decode(fields["Signature"].split("=", 1)[1].strip(":"))
    host = fields["Host"]
    base = rfc9421_signature_base(method, f"https://{host}{target}", headers, member)
    assert base == EXAMPLES["B_4_BASE"]  # two Accept lines are joined with ", "
    public = load_public_key(_pem("rfc9421-test-key-ed25519.pub.pem"))
    assert verify_bytes(public, base.encode(), signature, "ed25519")


def test_rfc9421_b4_changed_method_and_authority_break_the_signature() -> None:
    method, target, headers, _ = _message(EXAMPLES["B_4_INVALID"])
    fields = dict(headers)
    _, member = fields["Signature-Input"].split("=", 1)
    signature = base64.b64decode(fields["Signature"].split("=", 1)[1].strip(":"))
    base = rfc9421_signature_base(method, "https://example.com" + target, headers, member)
    assert base != EXAMPLES["B_4_BASE"]
    public = load_public_key(_pem("rfc9421-test-key-ed25519.pub.pem"))
    assert not verify_bytes(public, base.encode(), signature, "ed25519")


def test_rfc9421_query_param_encoding_example() -> None:
    # RFC 9421 section 2.2.8: parameters are decoded, then re-encoded with %20 for spaces.
    uri = (
        "https://www.example.com/parameters?var=this%20is%20a%20big%0Amultiline%20value&"
        "bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something"
    )
    member = (
        '("@query-param";name="var" "@query-param";name="bar" '
        '"@query-param";name="fa%C3%A7ade%22%3A%20");created=1'
    )
    base = rfc9421_signature_base("GET", uri, {}, member)
    assert base.split("\n")[:3] == [
        '"@query-param";name="var": this%20is%20a%20big%0Amultiline%20value',
        '"@query-param";name="bar": with%20plus%20whitespace',
        '"@query-param";name="fa%C3%A7ade%22%3A%20": something',
    ]


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ('("@query-param";name="nope");created=1', "missing"),
        ('("@status");created=1', "unsupported derived component"),
        ('("x-missing");created=1', "missing"),
        ('("@method" "@method");created=1', "twice"),
        ('("content-type";sf);created=1', "unsupported parameters"),
        ('("@method";req);created=1', "unsupported parameters"),
        ("(date);created=1", "not a quoted string"),
        ('("Date");created=1', "lower-case"),
        ('("@method"', "malformed"),
    ],
)
def test_rfc9421_base_refuses_what_it_cannot_reproduce(member: str, reason: str) -> None:
    method, target, headers, _ = _test_request()
    with pytest.raises(SignatureError, match=reason):
        rfc9421_signature_base(method, "https://example.com" + target, headers, member)


async def test_rfc9421_vector_outside_mastodon_profile_is_refused() -> None:
    # B.2.3 is a valid signature but covers no @target-uri, which Mastodon 4.5 requires.
    method, target, headers, body = _test_request()
    label, member, signature = _fields(EXAMPLES["B_2_3_FIELDS"])
    headers += [
        ("Signature-Input", f"{label}={member}"),
        ("Signature", f"{label}=:{base64.b64encode(signature).decode()}:"),
    ]
    resolver = Resolver(_pss_key())
    reason = await _rejected(
        method, target, headers, body, resolver, now=1618884473, base_url="https://example.com"
    )
    assert reason == "signature must cover @method and @target-uri"
    assert resolver.calls == []


# ---------------------------------------------------------------- signing details


def test_sign_request_post_headers(sender) -> None:
    added = sign_request("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    assert added["Host"] == "social.example"
    assert added["Date"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert added["Digest"] == "SHA-256=" + base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert added["Content-Type"] == "application/activity+json"
    assert added["Signature"].startswith(
        f'keyId="{KEY_ID}",algorithm="rsa-sha256",'
        'headers="(request-target) host date digest content-type",signature="'
    )


def test_sign_request_keeps_callers_date_and_content_type(sender) -> None:
    given = {"date": "Tue, 14 Nov 2023 22:00:00 GMT", "content-type": "application/ld+json"}
    added = sign_request("POST", BASE_URL + INBOX, given, BODY, KEY_ID, sender, now=NOW)
    assert "Date" not in added and "Content-Type" not in added
    assert set(added) == {"Host", "Digest", "Signature"}


def test_sign_request_get_covers_accept_and_query(sender) -> None:
    url = "https://remote.example:8443" + OUTBOX_PAGE
    added = sign_request("GET", url, {"Accept": "application/activity+json"}, None, KEY_ID, sender)
    assert added["Host"] == "remote.example:8443"
    assert 'headers="(request-target) host date accept"' in added["Signature"]
    assert "Digest" not in added


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Remote.Example:443/inbox", "remote.example"),
        ("http://remote.example:80/inbox", "remote.example"),
        ("http://remote.example:8080/inbox", "remote.example:8080"),
        ("https://[2001:db8::1]:8443/inbox", "[2001:db8::1]:8443"),
    ],
)
def test_sign_request_host_has_port_only_when_not_default(sender, url: str, host: str) -> None:
    assert sign_request("GET", url, {}, None, KEY_ID, sender)["Host"] == host


def test_sign_request_refuses_a_contradicting_host_header(sender) -> None:
    with pytest.raises(ValueError, match="does not match"):
        sign_request("GET", BASE_URL + INBOX, {"Host": "evil.example"}, None, KEY_ID, sender)


def test_sign_request_rfc9421_headers(sender) -> None:
    added = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    digest = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert added["Content-Digest"] == f"sha-256=:{digest}:"
    assert added["Signature-Input"] == (
        'sig1=("@method" "@target-uri" "content-digest" "content-type")'
        f';created={int(NOW)};keyid="{KEY_ID}";alg="rsa-v1_5-sha256"'
    )
    assert re.fullmatch(r"sig1=:[A-Za-z0-9+/]+=*:", added["Signature"])


def test_generate_keypair_round_trip() -> None:
    private_pem, public_pem = httpsig.generate_keypair()
    private, public = load_private_key(private_pem), load_public_key(public_pem)
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    signature = sign_bytes(private, b"hello", "rsa-v1_5-sha256")
    assert verify_bytes(public, b"hello", signature, "rsa-v1_5-sha256")


# ---------------------------------------------------------------- round trips


async def test_round_trip_cavage_post(sender) -> None:
    headers = _post_headers(sender)
    resolver = Resolver(sender.public_key())
    verified = await _verify("POST", INBOX, headers, BODY, resolver)
    assert verified.scheme == "cavage"
    assert verified.key_id == KEY_ID
    assert verified.components == ("(request-target)", "host", "date", "digest", "content-type")
    assert verified.algorithm == "rsa-v1_5-sha256"
    assert verified.created == int(NOW)
    assert resolver.calls == [(KEY_ID, False)]


async def test_round_trip_cavage_get_with_query(sender) -> None:
    accept = {"Accept": "application/activity+json"}
    added = sign_request("GET", BASE_URL + OUTBOX_PAGE, accept, None, KEY_ID, sender, now=NOW)
    headers = {**accept, **added}
    verified = await _verify("GET", OUTBOX_PAGE, headers, b"", Resolver(sender.public_key()))
    assert verified.components == ("(request-target)", "host", "date", "accept")
    # The query is signed: another page is another request.
    other = OUTBOX_PAGE.replace("page=2", "page=3")
    reason = await _rejected("GET", other, headers, b"", Resolver(sender.public_key()))
    assert reason == "signature does not verify with the sender's key"


async def test_round_trip_cavage_ed25519_hs2019(ed_key) -> None:
    headers = _post_headers(ed_key)
    assert 'algorithm="hs2019"' in headers["Signature"]
    verified = await _verify("POST", INBOX, headers, BODY, Resolver(ed_key.public_key()))
    assert verified.algorithm == "ed25519"


async def test_round_trip_cavage_hs2019_with_created_and_expires(sender) -> None:
    base = _post_headers(sender)
    covered = ["(request-target)", "(created)", "(expires)", "host", "digest"]
    extra = f"created={int(NOW) - 5},expires={int(NOW) + 300},"
    headers = {
        **base,
        "Signature": _cavage_header(
            sender, covered, "POST", INBOX, base, algorithm="hs2019", extra=extra
        ),
    }
    verified = await _verify("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert verified.components == tuple(covered)
    assert verified.created == int(NOW) - 5


async def test_round_trip_rfc9421_post(sender) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    resolver = Resolver(sender.public_key())
    verified = await _verify("POST", INBOX, headers, BODY, resolver)
    assert verified == Verified(
        key_id=KEY_ID,
        scheme="rfc9421",
        components=("@method", "@target-uri", "content-digest", "content-type"),
        algorithm="rsa-v1_5-sha256",
        created=int(NOW),
        label="sig1",
    )
    assert resolver.calls == [(KEY_ID, False)]


async def test_round_trip_rfc9421_get_with_query_and_other_label(sender) -> None:
    headers = sign_request_rfc9421(
        "GET", BASE_URL + OUTBOX_PAGE, {}, None, KEY_ID, sender, now=NOW, label="mastodon"
    )
    verified = await _verify("GET", OUTBOX_PAGE, headers, b"", Resolver(sender.public_key()))
    assert verified.label == "mastodon"
    assert verified.components == ("@method", "@target-uri")


async def test_round_trip_rfc9421_ed25519_with_pem_from_resolver(ed_key) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, ed_key, now=NOW)
    resolver = Resolver(_pem("rfc9421-test-key-ed25519.pub.pem"))
    verified = await _verify("POST", INBOX, headers, BODY, resolver)
    assert verified.algorithm == "ed25519"


async def test_round_trip_rfc9421_without_alg_uses_the_key(sender) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    # Drop the alg parameter and re-sign: the algorithm must follow from the RSA key.
    member = headers["Signature-Input"].split("=", 1)[1].replace(';alg="rsa-v1_5-sha256"', "")
    base = rfc9421_signature_base("POST", BASE_URL + INBOX, headers, member)
    signature = base64.b64encode(sign_bytes(sender, base.encode(), "rsa-v1_5-sha256")).decode()
    headers["Signature-Input"] = f"sig1={member}"
    headers["Signature"] = f"sig1=:{signature}:"
    verified = await _verify("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert verified.algorithm == "rsa-v1_5-sha256"


async def test_headers_as_pairs_with_mixed_case_and_repeats(sender) -> None:
    signed = sign_request_rfc9421(
        "GET", BASE_URL + INBOX, {"Accept": "a/b, c/d"}, None, KEY_ID, sender, now=NOW,
        components=["@method", "@target-uri", "accept"],
    )  # fmt: skip
    pairs = [("ACCEPT", "a/b"), ("accept", " c/d "), *[(k.upper(), v) for k, v in signed.items()]]
    verified = await _verify("GET", INBOX, pairs, None, Resolver(sender.public_key()))
    assert verified.components == ("@method", "@target-uri", "accept")


# ---------------------------------------------------------------- key resolution


async def test_mismatch_refreshes_the_key_exactly_once_then_fails(sender, stranger) -> None:
    headers = _post_headers(stranger)
    resolver = Resolver(sender.public_key(), sender.public_key(), sender.public_key())
    reason = await _rejected("POST", INBOX, headers, BODY, resolver)
    assert reason == "signature does not verify with the sender's key"
    assert resolver.calls == [(KEY_ID, False), (KEY_ID, True)]


async def test_rotated_key_is_picked_up_by_the_refresh(sender, stranger) -> None:
    headers = _post_headers(sender)
    resolver = Resolver(stranger.public_key(), sender.public_key())
    verified = await _verify("POST", INBOX, headers, BODY, resolver)
    assert verified.key_id == KEY_ID
    assert resolver.calls == [(KEY_ID, False), (KEY_ID, True)]


async def test_rfc9421_mismatch_refreshes_once(sender, stranger) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, stranger, now=NOW)
    resolver = Resolver(sender.public_key())
    reason = await _rejected("POST", INBOX, headers, BODY, resolver)
    assert reason == "signature does not verify with the sender's key"
    assert resolver.calls == [(KEY_ID, False), (KEY_ID, True)]


async def test_unknown_key(sender) -> None:
    resolver = Resolver(None)
    reason = await _rejected("POST", INBOX, _post_headers(sender), BODY, resolver)
    assert reason == f"no public key is known for keyId {KEY_ID!r}"
    assert resolver.calls == [(KEY_ID, False)]


async def test_key_of_the_wrong_type_for_rsa_sha256(sender, ed_key) -> None:
    resolver = Resolver(ed_key.public_key())
    reason = await _rejected("POST", INBOX, _post_headers(sender), BODY, resolver)
    assert reason == "the sender's key does not fit the signature algorithm"
    assert len(resolver.calls) == 2


async def test_rfc9421_alg_must_fit_the_key(sender, ed_key) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, ed_key, now=NOW)
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "the sender's key does not fit the signature algorithm"


async def test_pem_is_parsed_once_for_many_verifications(sender, monkeypatch) -> None:
    parsed: list[str] = []
    real = httpsig._parse_public_pem

    def spy(pem: str) -> httpsig.PublicKey:
        parsed.append(pem)
        return real(pem)

    monkeypatch.setattr(httpsig, "_parse_public_pem", spy)
    pem = _pem("rfc9421-test-key-rsa.pub.pem")
    resolver = Resolver(pem)
    for i in range(25):
        body = BODY + str(i).encode()
        await _verify("POST", INBOX, _post_headers(sender, body), body, resolver)
    assert len(resolver.calls) == 25
    assert parsed == [pem]
    assert load_public_key(pem) is load_public_key(pem)
    assert parsed == [pem]


def test_private_key_cache_returns_the_same_object() -> None:
    pem = _pem("rfc9421-test-key-rsa.pem")
    assert load_private_key(pem) is load_private_key(pem)


def test_load_public_key_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        load_public_key("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


# ---------------------------------------------------------------- hostile requests


async def test_unsigned_request(sender) -> None:
    reason = await _rejected("POST", INBOX, {"Host": "social.example"}, BODY, Resolver(sender))
    assert reason == "request is not signed"


async def test_tampered_body_cavage(sender) -> None:
    headers = _post_headers(sender)
    reason = await _rejected("POST", INBOX, headers, BODY + b" ", Resolver(sender.public_key()))
    assert reason == "body does not match the Digest header"


async def test_tampered_digest_cavage(sender) -> None:
    # The attacker swaps the body and fixes up Digest to match: the signature breaks.
    evil = b'{"type":"Delete"}'
    headers = {**_post_headers(sender), "Digest": httpsig.digest_header(evil)}
    resolver = Resolver(sender.public_key())
    reason = await _rejected("POST", INBOX, headers, evil, resolver)
    assert reason == "signature does not verify with the sender's key"
    assert len(resolver.calls) == 2


async def test_digest_header_tampered_alone(sender) -> None:
    headers = {**_post_headers(sender), "Digest": httpsig.digest_header(b"other")}
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "body does not match the Digest header"


async def test_tampered_body_rfc9421(sender) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    reason = await _rejected("POST", INBOX, headers, BODY[:-1], Resolver(sender.public_key()))
    assert reason == "body does not match the Content-Digest header"


async def test_tampered_content_digest(sender) -> None:
    evil = b'{"type":"Delete"}'
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    headers["Content-Digest"] = httpsig.content_digest_header(evil)
    reason = await _rejected("POST", INBOX, headers, evil, Resolver(sender.public_key()))
    assert reason == "signature does not verify with the sender's key"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("sha-256=:AAAA:", "body does not match the Content-Digest header"),
        ("md5=:AAAA:", "Content-Digest header has no sha-256 or sha-512 value"),
        ("sha-256=AAAA", "malformed Content-Digest header"),
        ("sha-256=:not base64!:", "malformed Content-Digest header"),
    ],
)
async def test_bad_content_digest_values(sender, value: str, reason: str) -> None:
    headers = {"Content-Digest": value}
    headers |= sign_request_rfc9421(
        "POST", BASE_URL + INBOX, headers, None, KEY_ID, sender, now=NOW,
        components=["@method", "@target-uri", "content-digest"],
    )  # fmt: skip
    assert await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key())) == reason


async def test_sha512_content_digest_is_accepted(sender) -> None:
    digest = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    headers = {"Content-Digest": f"sha-512=:{digest}:"}
    headers |= sign_request_rfc9421(
        "POST", BASE_URL + INBOX, headers, None, KEY_ID, sender, now=NOW,
        components=["@method", "@target-uri", "content-digest"],
    )  # fmt: skip
    verified = await _verify("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert "content-digest" in verified.components


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("MD5=Sd/dVLAcvNLSq16eXua5uQ==", "Digest header has no SHA-256 or SHA-512 value"),
        ("SHA-256=***", "Digest value is not valid base64"),
    ],
)
async def test_bad_digest_values(sender, value: str, reason: str) -> None:
    base = {"Host": "social.example", "Date": httpsig.http_date(NOW), "Digest": value}
    covered = ["(request-target)", "host", "date", "digest"]
    headers = {**base, "Signature": _cavage_header(sender, covered, "POST", INBOX, base)}
    assert await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key())) == reason


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (-3700, "Date header is too old"),
        (3700, "Date header is in the future"),
    ],
)
async def test_date_outside_the_window(sender, offset: int, reason: str) -> None:
    headers = _post_headers(sender, now=NOW + offset)
    resolver = Resolver(sender.public_key())
    assert await _rejected("POST", INBOX, headers, BODY, resolver) == reason
    assert resolver.calls == []


@pytest.mark.parametrize("offset", [-3500, 3500])
async def test_date_inside_the_window(sender, offset: int) -> None:
    headers = _post_headers(sender, now=NOW + offset)
    verified = await _verify("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert verified.created == int(NOW + offset)


async def test_unparseable_date(sender) -> None:
    base = {"Host": "social.example", "Date": "yesterday-ish"}
    covered = ["(request-target)", "host", "date"]
    headers = {**base, "Signature": _cavage_header(sender, covered, "GET", INBOX, base)}
    reason = await _rejected("GET", INBOX, headers, b"", Resolver(sender.public_key()))
    assert reason == "Date header is not an HTTP date"


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (-3700, "signature creation time is too old"),
        (3700, "signature creation time is in the future"),
    ],
)
async def test_created_outside_the_window_rfc9421(sender, offset: int, reason: str) -> None:
    headers = sign_request_rfc9421(
        "POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW + offset
    )
    assert await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key())) == reason


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (-3700, "signature creation time is too old"),
        (3700, "signature creation time is in the future"),
    ],
)
async def test_created_outside_the_window_cavage(sender, offset: int, reason: str) -> None:
    base = {"Host": "social.example"}
    covered = ["(request-target)", "(created)", "host"]
    extra = f"created={int(NOW) + offset},"
    signature = _cavage_header(sender, covered, "GET", INBOX, base, algorithm="hs2019", extra=extra)
    headers = {**base, "Signature": signature}
    assert await _rejected("GET", INBOX, headers, b"", Resolver(sender.public_key())) == reason


async def test_expired_rfc9421(sender) -> None:
    headers = sign_request_rfc9421(
        "POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW - 60, expires=int(NOW) - 1
    )
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "signature has expired"


async def test_expired_cavage(sender) -> None:
    base = _post_headers(sender)
    covered = ["(request-target)", "(created)", "(expires)", "host", "digest"]
    extra = f"created={int(NOW) - 60},expires={int(NOW) - 1},"
    signature = _cavage_header(
        sender, covered, "POST", INBOX, base, algorithm="hs2019", extra=extra
    )
    headers = {**base, "Signature": signature}
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "signature has expired"


@pytest.mark.parametrize("body", [BODY, b""])
async def test_post_without_digest_coverage_cavage(sender, body: bytes) -> None:
    base = _post_headers(sender, body)
    covered = ["(request-target)", "host", "date", "content-type"]
    headers = {**base, "Signature": _cavage_header(sender, covered, "POST", INBOX, base)}
    reason = await _rejected("POST", INBOX, headers, body, Resolver(sender.public_key()))
    assert reason == "signature must cover digest or content-digest for a request body"


async def test_get_with_a_body_needs_digest_coverage(sender) -> None:
    headers = sign_request("GET", BASE_URL + INBOX, {}, None, KEY_ID, sender, now=NOW)
    reason = await _rejected("GET", INBOX, headers, b"smuggled", Resolver(sender.public_key()))
    assert reason == "signature must cover digest or content-digest for a request body"


async def test_post_without_content_digest_coverage_rfc9421(sender) -> None:
    headers = sign_request_rfc9421(
        "POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW,
        components=["@method", "@target-uri", "content-type"],
    )  # fmt: skip
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "signature must cover content-digest for a request body"


@pytest.mark.parametrize(
    ("covered", "reason"),
    [
        (["(request-target)", "date", "digest"], "signature must cover host"),
        (["host", "date", "digest"], "signature must cover (request-target)"),
        (["(request-target)", "host", "digest"], "signature must cover date or (created)"),
    ],
)
async def test_cavage_required_coverage(sender, covered, reason: str) -> None:
    base = _post_headers(sender)
    headers = {**base, "Signature": _cavage_header(sender, covered, "POST", INBOX, base)}
    resolver = Resolver(sender.public_key())
    assert await _rejected("POST", INBOX, headers, BODY, resolver) == reason
    assert resolver.calls == []


async def test_cavage_signature_for_another_host(sender) -> None:
    headers = sign_request(
        "POST", "https://other.example" + INBOX, {}, BODY, KEY_ID, sender, now=NOW
    )
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "Host 'other.example' is not this server ('social.example')"


async def test_rfc9421_signature_for_another_server(sender) -> None:
    url = "https://other.example" + INBOX
    headers = sign_request_rfc9421("POST", url, {}, BODY, KEY_ID, sender, now=NOW)
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "signature does not verify with the sender's key"


async def test_rfc9421_needs_base_url(sender) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    reason = await _rejected(
        "POST", INBOX, headers, BODY, Resolver(sender.public_key()), base_url=None
    )
    assert reason == "cannot check an RFC 9421 signature without this server's base_url"


async def test_two_rfc9421_signatures(sender) -> None:
    one = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    two = sign_request_rfc9421(
        "POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW, label="sig2"
    )
    pairs = list(one.items()) + [("Signature-Input", two["Signature-Input"])]
    pairs += [("Signature", two["Signature"])]
    resolver = Resolver(sender.public_key())
    reason = await _rejected("POST", INBOX, pairs, BODY, resolver)
    assert reason == "exactly one RFC 9421 signature is accepted"
    assert resolver.calls == []


async def test_rfc9421_labels_must_match(sender) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    headers["Signature"] = headers["Signature"].replace("sig1=", "other=")
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "Signature-Input and Signature labels differ"


async def test_rfc9421_created_is_required(sender) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    headers["Signature-Input"] = re.sub(r";created=\d+", "", headers["Signature-Input"])
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "signature has no integer created parameter"


async def test_rfc9421_target_uri_is_required(sender) -> None:
    headers = sign_request_rfc9421(
        "POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW,
        components=["@method", "@authority", "@path", "content-digest"],
    )  # fmt: skip
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "signature must cover @method and @target-uri"


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "rsa-sha512", "rsa-sha1", "ecdsa-sha256"])
async def test_unknown_cavage_algorithm(sender, algorithm: str) -> None:
    headers = _post_headers(sender)
    headers["Signature"] = headers["Signature"].replace("rsa-sha256", algorithm)
    resolver = Resolver(sender.public_key())
    reason = await _rejected("POST", INBOX, headers, BODY, resolver)
    assert reason == f"unsupported signature algorithm {algorithm!r}"
    assert resolver.calls == []


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "ecdsa-p256-sha256", "rsa-sha256"])
async def test_unknown_rfc9421_algorithm(sender, algorithm: str) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    headers["Signature-Input"] = headers["Signature-Input"].replace("rsa-v1_5-sha256", algorithm)
    resolver = Resolver(sender.public_key())
    reason = await _rejected("POST", INBOX, headers, BODY, resolver)
    assert reason == f"unsupported signature algorithm {algorithm!r}"
    assert resolver.calls == []


async def test_created_pseudo_header_is_refused_with_rsa_sha256(sender) -> None:
    base = _post_headers(sender)
    covered = ["(request-target)", "(created)", "host", "digest"]
    extra = f"created={int(NOW)},"
    headers = {
        **base,
        "Signature": _cavage_header(sender, covered, "POST", INBOX, base, extra=extra),
    }
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "(created) and (expires) are not allowed with rsa-sha256"


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ("garbage", "malformed Signature header"),
        ('keyId="k",keyId="k",signature="AAAA",headers="host"', "repeats the keyId"),
        ('keyId="k",headers="(request-target) host date"', "needs keyId and signature"),
        ('keyId="k",signature="AAAA",headers=""', "covers no headers"),
        ('keyId="k",signature="AAAA",headers="  "', "covers no headers"),
        ('keyId="k",signature="%%%",headers="(request-target) host date"', "not valid base64"),
        ('keyId="k",signature="AAAA",headers="(request-target) host date"', "does not verify"),
    ],
)
async def test_malformed_cavage_headers(sender, signature: str, reason: str) -> None:
    headers = {"Host": "social.example", "Date": httpsig.http_date(NOW), "Signature": signature}
    with pytest.raises(SignatureError, match=re.escape(reason)):
        await _verify("GET", INBOX, headers, b"", Resolver(sender.public_key()))


@pytest.mark.parametrize(
    ("signature_input", "signature", "reason"),
    [
        ("sig1=(", "sig1=:AAAA:", "malformed Signature-Input header"),
        ('sig1=("@method" "@target-uri");created=1700000000', "sig1=AAAA", "malformed Signature"),
        ('sig1="@method";created=1700000000', "sig1=:AAAA:", "malformed Signature-Input"),
        ('sig1=("@method" "@target-uri");created=1700000000', "sig1=:AAAA:", "no keyid"),
        ('sig1=("@method" "@target-uri");created="soon";keyid="k"', "sig1=:AAAA:", "created"),
        ('sig1=("@method" "@target-uri");created=1700000000;keyid="k"', "", "malformed"),
        ('sig1=(date "@target-uri");created=1700000000;keyid="k"', "sig1=:AAAA:", "string"),
        ('sig1=("@method" "@target-uri");created=1700000000;keyid="k"', None, "without"),
    ],
)
async def test_malformed_rfc9421_headers(
    sender, signature_input: str, signature: str | None, reason: str
) -> None:
    headers = {"Host": "social.example", "Signature-Input": signature_input}
    if signature is not None:
        headers["Signature"] = signature
    with pytest.raises(SignatureError, match=reason):
        await _verify("GET", INBOX, headers, b"", Resolver(sender.public_key()))


async def test_header_value_with_a_line_break_is_refused(sender) -> None:
    signed = sign_request("GET", BASE_URL + INBOX, {"Accept": "a/b"}, None, KEY_ID, sender, now=NOW)
    headers = {**signed, "Accept": "a/b\r\nX-Injected: 1"}
    reason = await _rejected("GET", INBOX, headers, b"", Resolver(sender.public_key()))
    assert reason == "a header value contains a line break"


async def test_rfc9421_alg_must_be_a_string(sender) -> None:
    headers = sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, sender, now=NOW)
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        'alg="rsa-v1_5-sha256"', "alg=ed25519"
    )
    reason = await _rejected("POST", INBOX, headers, BODY, Resolver(sender.public_key()))
    assert reason == "unsupported signature algorithm 'ed25519'"


async def test_tiny_rsa_keys_prove_nothing(sender) -> None:
    tiny = rsa.RSAPublicNumbers(65537, (1 << 511) + 0x4F).public_key()
    resolver = Resolver(tiny)
    reason = await _rejected("POST", INBOX, _post_headers(sender), BODY, resolver)
    assert reason == "RSA key of 512 bits is too small"
    assert len(resolver.calls) == 2


async def test_base_url_with_a_path_is_a_configuration_error(sender) -> None:
    with pytest.raises(ValueError, match="without a path"):
        await _verify(
            "POST", INBOX, _post_headers(sender), BODY, Resolver(sender.public_key()),
            base_url=BASE_URL + "/app",
        )  # fmt: skip
