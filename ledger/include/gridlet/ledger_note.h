/* SPDX-License-Identifier: MIT */
/*
 * gridlet/ledger_note.h - C2SP signed notes, their keys, and witness
 * cosignatures.
 *
 * A signed note (c2sp.org/signed-note) is UTF-8 text ending in a newline,
 * a blank line, and one or more signature lines
 *
 *     — <key name> base64(4-byte key ID || signature)
 *
 * (the dash is U+2014). gridlet signs two kinds of notes:
 *   - log checkpoints, with Ed25519 signature type 0x01: the signature is
 *     over the note text;
 *   - witness cosignatures (c2sp.org/tlog-cosignature, cosignature/v1),
 *     signature type 0x04: the signature value is an 8-byte big-endian
 *     POSIX timestamp followed by an Ed25519 signature over
 *     "cosignature/v1\ntime <timestamp>\n" || note text.
 * The key ID of either is SHA-256(name || 0x0A || type || public key)[:4].
 *
 * Keys travel as text:
 *   verifier key ("vkey"):  <name>+<8 hex digits of key ID>+base64(type || pub)
 *   signer key:             PRIVATE+KEY+<name>+<hex ID>+base64(type || seed)
 * the second being the format of Go's golang.org/x/mod/sumdb/note. Signer
 * key files are created with mode 0600 and refused when group or others
 * may read them.
 *
 * Parsing borrows the input: an lg_note points into the caller's buffer,
 * which must outlive it. Every parser here reads outside data and is
 * strict (one accepted spelling of everything, bounded sizes); they are
 * fuzzed. All functions are thread-safe.
 */
#ifndef GRIDLET_LEDGER_NOTE_H
#define GRIDLET_LEDGER_NOTE_H

#include "gridlet/crypto.h"
#include "gridlet/rand.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Signature types (c2sp.org/signed-note, "Signature types"). */
#define LG_SIG_ED25519 0x01
#define LG_SIG_COSIG_V1 0x04

#define LG_KEY_NAME_MAX 255
/* Largest note accepted (checkpoints with cosignatures are < 2 KiB). */
#define LG_NOTE_MAX 65536
/* Most signature lines accepted in one note (the spec asks for >= 16). */
#define LG_NOTE_SIGS_MAX 64
/* Room for one signature line, including its newline and a NUL. */
#define LG_SIGLINE_MAX 512
/* Room for a verifier key or signer key string and a NUL. */
#define LG_KEY_TEXT_MAX 400

/* A public key a verifier trusts, with the name and ID it signs under. */
typedef struct lg_vkey {
  char name[LG_KEY_NAME_MAX + 1];
  uint32_t id;
  uint8_t type; /* LG_SIG_ED25519 or LG_SIG_COSIG_V1 */
  uint8_t pub[GL_ED25519_PUB_LEN];
} lg_vkey;

/* A signing key: its public half and the Ed25519 key pair. Secret: wipe
 * with lg_signer_wipe when done. */
typedef struct lg_signer {
  lg_vkey vkey;
  gl_ed25519_key key;
} lg_signer;

/* ---- Keys -----------------------------------------------------------------
 */

/* lg_key_name_valid - a key name is non-empty, at most LG_KEY_NAME_MAX
 * bytes of valid UTF-8 without control characters, Unicode spaces or '+'. */
bool lg_key_name_valid(const char *name, size_t len);

/* lg_key_id - SHA-256(name || 0x0A || type || pub)[:4] as a big-endian
 * number. Returns 0 or GL_ECRYPTO. */
int lg_key_id(const char *name, uint8_t type,
              const uint8_t pub[GL_ED25519_PUB_LEN], uint32_t *id);

/*
 * lg_vkey_parse - parse "<name>+<hexid>+<base64(type||pub)>" (`len` bytes,
 * no newline). The hex ID must be 8 lower-case digits and equal the ID
 * computed from name, type and key. Returns 0, GL_EPARSE (malformed or
 * wrong ID) or GL_ENOTSUP (a signature type other than 0x01 or 0x04).
 */
int lg_vkey_parse(const char *text, size_t len, lg_vkey *key);

/* lg_vkey_format - the text form into `buf` of `cap` bytes (NUL-terminated;
 * LG_KEY_TEXT_MAX always suffices). Returns 0 or GL_ETOOBIG. */
int lg_vkey_format(const lg_vkey *key, char *buf, size_t cap);

/*
 * lg_signer_generate - a new key named `name` (validated as above) of
 * signature type `type`, seed from `rand` (gl_rand_system() for real keys).
 * Returns 0, GL_EINVAL (bad name or type) or the generator's error.
 */
int lg_signer_generate(const char *name, uint8_t type, const gl_rand *rand,
                       lg_signer *out);

/* lg_signer_from_seed - the signer for a known 32-byte seed. Returns 0,
 * GL_EINVAL or GL_ECRYPTO. */
int lg_signer_from_seed(const char *name, uint8_t type,
                        const uint8_t seed[GL_ED25519_SEED_LEN],
                        lg_signer *out);

/*
 * lg_signer_parse - parse "PRIVATE+KEY+<name>+<hexid>+<base64(type||seed)>"
 * (`len` bytes; one trailing newline is allowed). Returns 0, GL_EPARSE or
 * GL_ENOTSUP.
 */
int lg_signer_parse(const char *text, size_t len, lg_signer *out);

/* lg_signer_format - the secret text form into `buf` (NUL-terminated). The
 * caller should wipe `buf` after use. Returns 0 or GL_ETOOBIG. */
int lg_signer_format(const lg_signer *s, char *buf, size_t cap);

/*
 * lg_signer_write_file - create `path` (it must not exist) with mode 0600
 * holding the signer key line, and fsync it. Returns 0, GL_EEXIST, or
 * GL_EIO (logged with the path and errno).
 */
int lg_signer_write_file(const char *path, const lg_signer *s);

/*
 * lg_signer_read_file - read a signer key file. Refuses (GL_EPERM, logged)
 * a file that group or others may access, as ssh does. Returns 0,
 * GL_ENOENT, GL_EPERM, GL_EIO, GL_EPARSE or GL_ENOTSUP.
 */
int lg_signer_read_file(const char *path, lg_signer *out);

/* lg_signer_wipe - erase the secret half. */
void lg_signer_wipe(lg_signer *s);

/* ---- Notes ----------------------------------------------------------------
 */

/* One signature line of a parsed note; pointers borrow the note input. */
typedef struct lg_note_sig {
  const char *name; /* key name, not NUL-terminated */
  size_t name_len;
  uint32_t id;
  const char *b64; /* base64 of id || signature */
  size_t b64_len;
  const char *line; /* the whole line including its newline */
  size_t line_len;
} lg_note_sig;

typedef struct lg_note {
  const char *text; /* note text, including its final newline */
  size_t text_len;
  size_t nsigs;
  lg_note_sig sigs[LG_NOTE_SIGS_MAX];
} lg_note;

/*
 * lg_note_parse - split a signed note into text and signature lines and
 * check its syntax: valid UTF-8, no control characters but newline, the
 * text ends in a newline and is separated from the signatures by the last
 * blank line, one or more well-formed signature lines (valid key name,
 * strict base64 of at least 5 bytes), at most LG_NOTE_MAX bytes and
 * LG_NOTE_SIGS_MAX signatures. Signatures are not checked here. Returns
 * 0, GL_EPARSE or GL_ETOOBIG.
 */
int lg_note_parse(const char *msg, size_t len, lg_note *note);

/*
 * lg_note_verify - check a parsed note's signatures against `keys`.
 * Signature lines whose (name, key ID) matches no key are ignored; one
 * that matches must verify, and a known key must not sign twice. When
 * `verified` is not NULL, verified[i] tells whether keys[i] signed; when
 * `timestamps` is not NULL, timestamps[i] receives the cosignature time
 * of a type 0x04 key (0 otherwise). Returns 0 when at least one known key
 * signed and none failed, GL_EVERIFY otherwise (`why` gets a reason).
 */
int lg_note_verify(const lg_note *note, const lg_vkey *keys, size_t nkeys,
                   bool *verified, uint64_t *timestamps, const char **why);

/*
 * lg_note_sign_line - one signature line ("— name base64\n", NUL-terminated)
 * by `signer` over `text` (the note text, ending in a newline). For a
 * cosigner key (type 0x04) `timestamp` is the POSIX time to sign (must be
 * <= 2^63 - 1); it is ignored for type 0x01. Returns 0, GL_EINVAL,
 * GL_ETOOBIG or GL_ECRYPTO.
 */
int lg_note_sign_line(const lg_signer *signer, const char *text, size_t len,
                      uint64_t timestamp, char *line, size_t cap);

/* lg_text_valid - valid UTF-8 with no control characters except newline:
 * the character rule of every note. */
bool lg_text_valid(const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_LEDGER_NOTE_H */
