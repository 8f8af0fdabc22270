#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Independent COSE_Sign1/EdDSA implementation for gridlet's proto tests.

Written from RFC 9052 and RFC 8949 without looking at gridlet's C: a small
hand-written CBOR encoder and a strict decoder, with Ed25519 from the
Python `cryptography` package. Two modes:

  cose_vectors.py generate OUT
      Write test vectors (valid envelopes and a catalogue of broken ones,
      each with the rejection reason gridlet must give) to OUT. The C unit
      tests verify the valid ones, re-sign them and compare bytes, and
      check the reason for each broken one. The committed
      tests/data/proto/cose_vectors.txt is this output; Ed25519 is
      deterministic, so regenerating gives the same file.

  cose_vectors.py verify FILE
      Verify envelopes produced by gridlet's C code: each line of FILE is
      "<kid> <public key hex> <cose hex>". Checks the exact structure, the
      deterministic encoding, the signature, and that the JSON payload has
      "v": 1 and "sender" equal to the kid. Exit status 0 when all pass.
"""
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey, Ed25519PublicKey)
from cryptography.hazmat.primitives import serialization
from cryptography.exceptions import InvalidSignature

# ---- CBOR encoding (RFC 8949 section 4.2.1: deterministic) ---------------


def head(major, value, width=None):
    """Major type and argument; width forces a (non-minimal) encoding."""
    if width is None:
        if value < 24:
            width = 0
        elif value < 0x100:
            width = 1
        elif value < 0x10000:
            width = 2
        elif value < 0x100000000:
            width = 4
        else:
            width = 8
    if width == 0:
        return bytes([major << 5 | value])
    ai = {1: 24, 2: 25, 4: 26, 8: 27}[width]
    return bytes([major << 5 | ai]) + value.to_bytes(width, "big")


def uint(v, width=None):
    return head(0, v, width)


def nint(v):  # v < 0
    return head(1, -1 - v)


def bstr(b, width=None):
    return head(2, len(b), width) + b


def tstr(s):
    b = s.encode()
    return head(3, len(b)) + b


def array(items):
    return head(4, len(items)) + b"".join(items)


def cmap(pairs):
    return head(5, len(pairs)) + b"".join(k + v for k, v in pairs)


def tag(n, item):
    return head(6, n) + item


PROTECTED = cmap([(uint(1), nint(-8))])  # {1: -8} = a1 01 27


def sig_structure(protected, payload, aad=b"", context="Signature1"):
    return array([tstr(context), bstr(protected), bstr(aad), bstr(payload)])


def sign1(priv, kid, payload, protected=PROTECTED):
    sig = priv.sign(sig_structure(protected, payload))
    return tag(18, array([bstr(protected), cmap([(uint(4), bstr(kid))]),
                          bstr(payload), bstr(sig)]))


# ---- Strict CBOR decoding of exactly the COSE_Sign1 shape ----------------


class Reject(Exception):
    pass


def read_head(buf, pos):
    if pos >= len(buf):
        raise Reject("truncated")
    b = buf[pos]
    major, ai = b >> 5, b & 31
    if ai < 24:
        return major, ai, pos + 1
    if ai > 27:
        raise Reject("indefinite length or reserved value")
    width = 1 << (ai - 24)
    if pos + 1 + width > len(buf):
        raise Reject("truncated")
    value = int.from_bytes(buf[pos + 1:pos + 1 + width], "big")
    if head(major, value) != buf[pos:pos + 1 + width]:
        raise Reject("non-minimal head")
    return major, value, pos + 1 + width


def read_bstr(buf, pos):
    major, n, pos = read_head(buf, pos)
    if major != 2:
        raise Reject("expected a byte string")
    if pos + n > len(buf):
        raise Reject("truncated")
    return buf[pos:pos + n], pos + n


def parse_sign1(buf):
    major, v, pos = read_head(buf, 0)
    if (major, v) != (6, 18):
        raise Reject("not tag 18")
    major, v, pos = read_head(buf, pos)
    if (major, v) != (4, 4):
        raise Reject("not an array of 4")
    protected, pos = read_bstr(buf, pos)
    if protected != PROTECTED:
        raise Reject("protected header is not {1: -8}")
    major, v, pos = read_head(buf, pos)
    if (major, v) != (5, 1):
        raise Reject("unprotected header is not a map of one entry")
    major, v, pos = read_head(buf, pos)
    if (major, v) != (0, 4):
        raise Reject("unprotected label is not 4")
    kid, pos = read_bstr(buf, pos)
    payload, pos = read_bstr(buf, pos)
    sig, pos = read_bstr(buf, pos)
    if len(sig) != 64:
        raise Reject("signature is not 64 bytes")
    if pos != len(buf):
        raise Reject("trailing bytes")
    return protected, kid, payload, sig


# ---- Vectors -------------------------------------------------------------

SEED_METER = bytes(range(32))
SEED_AGG = bytes(range(32, 64))
SEED_OTHER = bytes([0x5a] * 32)

READING = (b'{"v":1,"type":"reading","sender":"meter-17","seq":42,'
           b'"ts":"2026-11-21T10:15:04Z","start":"2026-11-21T10:00:00Z",'
           b'"end":"2026-11-21T10:15:00Z","import_wh":120,"export_wh":0,'
           b'"pv_wh":310,"charge_wh":50,"discharge_wh":0,"soc_bp":6400,'
           b'"import_total_wh":1234567,"export_total_wh":765432,'
           b'"flags":["estimated"]}')
# Whitespace and key order are the sender's business: the signature covers
# the exact bytes, and a strict decoder still accepts them.
ORDER = (b'{ "type": "order", "v": 1, "sender": "meter-17", "seq": 43,\n'
         b'  "ts": "2026-11-21T09:50:00Z",\n'
         b'  "start": "2026-11-21T10:15:00Z", "end": "2026-11-21T10:30:00Z",\n'
         b'  "steps": [ {"side": "buy", "wh": 800, "price": 260000},\n'
         b'             {"side": "sell", "wh": 300, "price": 120000} ] }\n')
NOTE = ("gridlet.example/c1\n1234\n"
        "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
        "\u2014 gridlet.example/c1 AAAAAQ==\n")
CHECKPOINT = json.dumps(
    {"v": 1, "type": "checkpoint", "sender": "aggregator", "seq": 7,
     "ts": "2026-11-21T10:16:00Z", "note": NOTE},
    ensure_ascii=False, separators=(",", ":")).encode()
# A long kid (63 bytes, 1-byte length head) and a payload over 255 bytes.
LONG_KID = b"m" + b"x" * 62
LONG_STATUS = json.dumps(
    {"v": 1, "type": "status", "sender": LONG_KID.decode(), "seq": 1,
     "ts": "2026-11-21T10:00:00Z", "state": "online", "outbox": 0,
     "version": "0.1.0"}, separators=(",", ":")).encode()


def key(seed):
    return Ed25519PrivateKey.from_private_bytes(seed)


def pub_hex(priv):
    return priv.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def vectors():
    m, a, o = key(SEED_METER), key(SEED_AGG), key(SEED_OTHER)
    good = sign1(m, b"meter-17", READING)
    sig = good[-64:]
    out = []

    def add(name, expect, priv, seed, kid, payload, cose, is_msg):
        out.append((name, expect, kid.decode("latin-1"), seed.hex(),
                    pub_hex(priv), payload.hex() or "-", cose.hex() or "-",
                    "1" if is_msg else "0"))

    add("reading", "ok", m, SEED_METER, b"meter-17", READING, good, True)
    add("order-pretty", "ok", m, SEED_METER, b"meter-17", ORDER,
        sign1(m, b"meter-17", ORDER), True)
    add("checkpoint-utf8", "ok", a, SEED_AGG, b"aggregator", CHECKPOINT,
        sign1(a, b"aggregator", CHECKPOINT), True)
    add("long-kid", "ok", o, SEED_OTHER, LONG_KID, LONG_STATUS,
        sign1(o, LONG_KID, LONG_STATUS), True)
    add("empty-payload", "ok", m, SEED_METER, b"meter-17", b"",
        sign1(m, b"meter-17", b""), False)

    def body(kid=b"meter-17", payload=READING, protected=PROTECTED, s=sig,
             unprot=None):
        u = unprot if unprot is not None else cmap([(uint(4), bstr(kid))])
        return [bstr(protected), u, bstr(payload), bstr(s)]

    def bad(name, expect, cose, kid=b"meter-17"):
        add(name, expect, m, SEED_METER, kid, b"", cose, False)

    flipped = bytearray(sig)
    flipped[10] ^= 0x01
    bad("sig-bit-flip", "bad_signature", tag(18, array(body(s=bytes(flipped)))))
    tampered = READING.replace(b'"import_wh":120', b'"import_wh":121')
    bad("payload-tampered", "bad_signature",
        tag(18, array(body(payload=tampered))))
    bad("other-key", "bad_signature",
        tag(18, array(body(s=o.sign(sig_structure(PROTECTED, READING))))))
    bad("signed-with-aad", "bad_signature",
        tag(18, array(body(s=m.sign(sig_structure(PROTECTED, READING,
                                                  aad=b"x"))))))
    bad("signed-as-cose-sign", "bad_signature",
        tag(18, array(body(s=m.sign(sig_structure(PROTECTED, READING,
                                                  context="Signature"))))))
    bad("untagged", "malformed", array(body()))
    bad("tag-98", "malformed", tag(98, array(body())))
    bad("array-of-5", "malformed", tag(18, array(body() + [bstr(b"")])))
    es256 = cmap([(uint(1), nint(-7))])
    bad("alg-es256", "unsupported_alg", tag(18, array(body(protected=es256))))
    bad("protected-empty", "unsupported_alg",
        tag(18, array(body(protected=b""))))
    bad("protected-nonminimal", "unsupported_alg",
        tag(18, array(body(protected=b"\xa1\x01\x38\x07"))))
    bad("protected-with-kid", "unsupported_alg",
        tag(18, array(body(protected=cmap([(uint(1), nint(-8)),
                                           (uint(4), bstr(b"meter-17"))])))))
    bad("unprotected-extra", "malformed",
        tag(18, array(body(unprot=cmap([(uint(4), bstr(b"meter-17")),
                                        (uint(3), uint(0))])))))
    bad("unprotected-empty", "malformed", tag(18, array(body(unprot=cmap([])))))
    bad("kid-as-text", "malformed",
        tag(18, array(body(unprot=cmap([(uint(4), tstr("meter-17"))])))))
    bad("kid-label-nonminimal", "malformed",
        tag(18, array(body(unprot=cmap([(uint(4, width=1),
                                         bstr(b"meter-17"))])))))
    bad("kid-uppercase", "malformed", tag(18, array(body(kid=b"Meter-17"))),
        kid=b"Meter-17")
    bad("kid-reserved", "malformed", tag(18, array(body(kid=b"broker"))),
        kid=b"broker")
    bad("kid-too-long", "malformed", tag(18, array(body(kid=b"m" * 64))),
        kid=b"m" * 64)
    nonmin = [bstr(PROTECTED), cmap([(uint(4), bstr(b"meter-17"))]),
              bstr(READING, width=4), bstr(sig)]
    bad("payload-length-nonminimal", "malformed", tag(18, array(nonmin)))
    indef = [bstr(PROTECTED), cmap([(uint(4), bstr(b"meter-17"))]),
             b"\x5f" + bstr(READING[:10]) + bstr(READING[10:]) + b"\xff",
             bstr(sig)]
    bad("payload-indefinite", "malformed", tag(18, array(indef)))
    detached = [bstr(PROTECTED), cmap([(uint(4), bstr(b"meter-17"))]),
                b"\xf6", bstr(sig)]
    bad("payload-detached", "malformed", tag(18, array(detached)))
    bad("indefinite-array", "malformed",
        tag(18, b"\x9f" + b"".join(body()) + b"\xff"))
    bad("sig-63-bytes", "malformed", tag(18, array(body(s=sig[:63]))))
    bad("trailing-byte", "malformed", good + b"\x00")
    bad("truncated", "malformed", good[:-1])
    bad("empty", "malformed", b"")
    big = b'{"v":1,"pad":"' + b"x" * 24600 + b'"}'
    bad("oversize", "oversize", tag(18, array(body(payload=big))))
    return out


def generate(path):
    with open(path, "w", encoding="ascii") as f:
        f.write("# Generated by tests/data/proto/cose_vectors.py; do not edit.\n"
                "# name expect kid seed pub payload cose is_message\n"
                "# (\"-\": empty; payloads are omitted for broken vectors)\n")
        for v in vectors():
            f.write(" ".join(v) + "\n")


def verify(path):
    failures = count = 0
    with open(path, encoding="ascii") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            count += 1
            kid, pub, cose = line.split()
            buf = bytes.fromhex(cose)
            try:
                protected, got_kid, payload, sig = parse_sign1(buf)
                if got_kid != kid.encode():
                    raise Reject("kid %r, expected %r" % (got_kid, kid))
                # Re-encoding the parts must give the same bytes.
                again = tag(18, array([bstr(protected),
                                       cmap([(uint(4), bstr(got_kid))]),
                                       bstr(payload), bstr(sig)]))
                if again != buf:
                    raise Reject("not in deterministic encoding")
                Ed25519PublicKey.from_public_bytes(bytes.fromhex(pub)).verify(
                    sig, sig_structure(protected, payload))
                msg = json.loads(payload)
                if msg.get("v") != 1 or msg.get("sender") != kid:
                    raise Reject("payload header mismatch")
            except (Reject, InvalidSignature, ValueError) as e:
                failures += 1
                print("line %d: %s: %s" % (n, kid, e or "bad signature"))
    print("verified %d envelopes, %d failed" % (count, failures))
    return 0 if failures == 0 and count > 0 else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "verify":
        sys.exit(verify(sys.argv[2]))
    else:
        sys.exit(__doc__)
