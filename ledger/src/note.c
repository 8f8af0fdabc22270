/* SPDX-License-Identifier: MIT */
/*
 * note.c - C2SP signed notes: key text formats, parsing, signing and
 * verification, including timestamped witness cosignatures.
 *
 * Everything here parses text that arrives from outside (checkpoints from
 * the broker, keys from config files, bundles from meters), so the parsers
 * are strict and bounded, and the verification rules are the spec's: ignore
 * signatures from unknown keys, verify every signature from a known key,
 * reject the note when one of them fails or none verifies.
 */
#include "gridlet/ledger_note.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMPONENT "ledger"

/* "— " : U+2014 EM DASH in UTF-8, then a space. */
static const char sig_prefix[] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN 4
/* Largest decoded signature accepted in a line (room for post-quantum
 * signatures from keys we do not know and must skip). */
#define SIG_BYTES_MAX 5000
static const char signer_prefix[] = "PRIVATE+KEY+";
#define SIGNER_PREFIX_LEN 12

/* ---- UTF-8 and names ---------------------------------------------------- */

/* Decode one UTF-8 sequence at s[0..left); returns its length (1..4) and
 * the code point, or 0 when the bytes are not valid shortest-form UTF-8. */
static size_t utf8_next(const unsigned char *s, size_t left, uint32_t *cp) {
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    *cp = c & 0x1fu;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    *cp = c & 0x0fu;
    if (c == 0xe0)
      lo = 0xa0; /* no overlong forms */
    if (c == 0xed)
      hi = 0x9f; /* no surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    *cp = c & 0x07u;
    if (c == 0xf0)
      lo = 0x90;
    if (c == 0xf4)
      hi = 0x8f; /* nothing above U+10FFFF */
  } else {
    return 0;
  }
  if (left < n)
    return 0;
  for (size_t i = 1; i < n; i++) {
    unsigned char d = s[i];
    if (i == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xbf))
      return 0;
    *cp = (*cp << 6) | (d & 0x3fu);
  }
  return n;
}

bool lg_text_valid(const char *text, size_t len) {
  const unsigned char *s = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = utf8_next(s + i, len - i, &cp);
    if (n == 0 || (cp < 0x20 && cp != '\n'))
      return false;
    i += n;
  }
  return true;
}

/* Unicode White_Space (what Go's unicode.IsSpace reports). */
static bool is_unicode_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

bool lg_key_name_valid(const char *name, size_t len) {
  if (len == 0 || len > LG_KEY_NAME_MAX)
    return false;
  const unsigned char *s = (const unsigned char *)name;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = utf8_next(s + i, len - i, &cp);
    if (n == 0 || cp < 0x20 || cp == '+' || is_unicode_space(cp))
      return false;
    i += n;
  }
  return true;
}

/* ---- Keys --------------------------------------------------------------- */

int lg_key_id(const char *name, uint8_t type,
              const uint8_t pub[GL_ED25519_PUB_LEN], uint32_t *id) {
  gl_bytes parts[4] = {
      {name, strlen(name)}, {"\n", 1}, {&type, 1}, {pub, GL_ED25519_PUB_LEN}};
  uint8_t h[GL_SHA256_LEN];
  int rc = gl_sha256_parts(parts, 4, h);
  if (rc != 0)
    return rc;
  *id = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 |
        (uint32_t)h[3];
  return 0;
}

static bool type_known(uint8_t type) {
  return type == LG_SIG_ED25519 || type == LG_SIG_COSIG_V1;
}

/* Parse "<name>+<hexid>+<base64(type||32 bytes)>" shared by both key
 * forms; `material` receives the 32 bytes (public key or seed). */
static int parse_key_text(const char *text, size_t len, char *name,
                          uint32_t *id, uint8_t *type, uint8_t material[32]) {
  const char *p1 = memchr(text, '+', len);
  if (!p1)
    return GL_EPARSE;
  size_t name_len = (size_t)(p1 - text);
  if (!lg_key_name_valid(text, name_len))
    return GL_EPARSE;
  const char *hex = p1 + 1;
  size_t rest = len - name_len - 1;
  if (rest < 9 || hex[8] != '+')
    return GL_EPARSE;
  uint32_t v = 0;
  for (int i = 0; i < 8; i++) {
    char c = hex[i];
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      return GL_EPARSE;
    v = v << 4 | (uint32_t)d;
  }
  const char *b64 = hex + 9;
  size_t b64_len = rest - 9;
  uint8_t raw[34];
  size_t raw_len;
  if (gl_base64_decode(b64, b64_len, raw, sizeof raw, &raw_len) != 0 ||
      raw_len != 33)
    return GL_EPARSE;
  if (!type_known(raw[0]))
    return GL_ENOTSUP;
  memcpy(name, text, name_len);
  name[name_len] = '\0';
  *id = v;
  *type = raw[0];
  memcpy(material, raw + 1, 32);
  gl_wipe(raw, sizeof raw);
  return 0;
}

int lg_vkey_parse(const char *text, size_t len, lg_vkey *key) {
  lg_vkey k;
  memset(&k, 0, sizeof k); /* whole struct defined: keys compare bytewise */
  int rc = parse_key_text(text, len, k.name, &k.id, &k.type, k.pub);
  if (rc != 0)
    return rc;
  uint32_t want;
  rc = lg_key_id(k.name, k.type, k.pub, &want);
  if (rc != 0)
    return rc;
  if (want != k.id)
    return GL_EPARSE;
  *key = k;
  return 0;
}

static int format_key_text(const char *prefix, const char *name, uint32_t id,
                           uint8_t type, const uint8_t material[32], char *buf,
                           size_t cap) {
  uint8_t raw[33];
  raw[0] = type;
  memcpy(raw + 1, material, 32);
  char b64[48];
  int rc = gl_base64_encode(raw, sizeof raw, b64, sizeof b64);
  gl_wipe(raw, sizeof raw);
  if (rc != 0)
    return rc;
  int n = snprintf(buf, cap, "%s%s+%08" PRIx32 "+%s", prefix, name, id, b64);
  gl_wipe(b64, sizeof b64);
  if (n < 0 || (size_t)n >= cap)
    return GL_ETOOBIG;
  return 0;
}

int lg_vkey_format(const lg_vkey *key, char *buf, size_t cap) {
  return format_key_text("", key->name, key->id, key->type, key->pub, buf, cap);
}

int lg_signer_from_seed(const char *name, uint8_t type,
                        const uint8_t seed[GL_ED25519_SEED_LEN],
                        lg_signer *out) {
  size_t name_len = strlen(name);
  if (!lg_key_name_valid(name, name_len) || !type_known(type))
    return GL_EINVAL;
  lg_signer s;
  memset(&s, 0, sizeof s);
  int rc = gl_ed25519_from_seed(seed, &s.key);
  if (rc == 0)
    rc = lg_key_id(name, type, s.key.pub, &s.vkey.id);
  if (rc != 0) {
    lg_signer_wipe(&s);
    return rc;
  }
  memcpy(s.vkey.name, name, name_len + 1);
  s.vkey.type = type;
  memcpy(s.vkey.pub, s.key.pub, GL_ED25519_PUB_LEN);
  *out = s;
  lg_signer_wipe(&s);
  return 0;
}

int lg_signer_generate(const char *name, uint8_t type, const gl_rand *rand,
                       lg_signer *out) {
  uint8_t seed[GL_ED25519_SEED_LEN];
  int rc = gl_rand_fill(rand, seed, sizeof seed);
  if (rc == 0)
    rc = lg_signer_from_seed(name, type, seed, out);
  gl_wipe(seed, sizeof seed);
  return rc;
}

int lg_signer_parse(const char *text, size_t len, lg_signer *out) {
  if (len > 0 && text[len - 1] == '\n')
    len--;
  if (len < SIGNER_PREFIX_LEN ||
      memcmp(text, signer_prefix, SIGNER_PREFIX_LEN) != 0)
    return GL_EPARSE;
  char name[LG_KEY_NAME_MAX + 1];
  uint32_t id;
  uint8_t type, seed[32];
  int rc = parse_key_text(text + SIGNER_PREFIX_LEN, len - SIGNER_PREFIX_LEN,
                          name, &id, &type, seed);
  if (rc == 0)
    rc = lg_signer_from_seed(name, type, seed, out);
  gl_wipe(seed, sizeof seed);
  if (rc == 0 && out->vkey.id != id) {
    lg_signer_wipe(out);
    rc = GL_EPARSE;
  }
  return rc;
}

int lg_signer_format(const lg_signer *s, char *buf, size_t cap) {
  return format_key_text(signer_prefix, s->vkey.name, s->vkey.id, s->vkey.type,
                         s->key.seed, buf, cap);
}

void lg_signer_wipe(lg_signer *s) {
  gl_wipe(&s->key, sizeof s->key);
}

/* fsync the directory holding `path`, so that a new file's name is as
 * durable as its contents. */
static void sync_parent_dir(const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (!slash) {
    dir[0] = '.';
    dir[1] = '\0';
  } else {
    size_t n = (size_t)(slash - path);
    if (n == 0)
      n = 1;
    if (n >= sizeof dir)
      return;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

int lg_signer_write_file(const char *path, const lg_signer *s) {
  char text[LG_KEY_TEXT_MAX + 1];
  int rc = lg_signer_format(s, text, sizeof text - 1);
  if (rc != 0)
    return rc;
  size_t len = strlen(text);
  text[len++] = '\n';
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    gl_wipe(text, sizeof text);
    GL_ERROR(COMPONENT, "cannot create key file %s: %s", path, strerror(e));
    return e == EEXIST ? GL_EEXIST : GL_EIO;
  }
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    off += (size_t)w;
  }
  gl_wipe(text, sizeof text);
  int ok = off == len && fsync(fd) == 0;
  int e = errno;
  if (close(fd) != 0)
    ok = 0;
  if (!ok) {
    GL_ERROR(COMPONENT, "cannot write key file %s: %s", path, strerror(e));
    (void)unlink(path);
    return GL_EIO;
  }
  sync_parent_dir(path);
  return 0;
}

int lg_signer_read_file(const char *path, lg_signer *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    GL_ERROR(COMPONENT, "cannot open key file %s: %s", path, strerror(e));
    return e == ENOENT ? GL_ENOENT : GL_EIO;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return GL_EIO;
  }
  if (st.st_mode & 077) {
    close(fd);
    GL_ERROR(COMPONENT,
             "key file %s is accessible by group or others (mode %03o); "
             "refusing to use it: chmod 600 %s",
             path, (unsigned)(st.st_mode & 0777), path);
    return GL_EPERM;
  }
  char text[LG_KEY_TEXT_MAX + 2];
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, text + len, sizeof text - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      close(fd);
      gl_wipe(text, sizeof text);
      return GL_EIO;
    }
    if (r == 0)
      break;
    len += (size_t)r;
    if (len == sizeof text)
      break;
  }
  close(fd);
  int rc = len == sizeof text ? GL_EPARSE : lg_signer_parse(text, len, out);
  gl_wipe(text, sizeof text);
  if (rc != 0)
    GL_ERROR(COMPONENT, "key file %s: not a signer key (%s)", path,
             gl_strerror(rc));
  return rc;
}

/* ---- Notes -------------------------------------------------------------- */

int lg_note_parse(const char *msg, size_t len, lg_note *note) {
  if (len > LG_NOTE_MAX)
    return GL_ETOOBIG;
  if (len < 2 || msg[len - 1] != '\n' || !lg_text_valid(msg, len))
    return GL_EPARSE;
  /* The text ends at the last blank line; what follows are signatures. */
  size_t split = len - 1;
  for (;;) {
    if (split == 0)
      return GL_EPARSE;
    split--;
    if (msg[split] == '\n' && msg[split + 1] == '\n')
      break;
  }
  note->text = msg;
  note->text_len = split + 1;
  note->nsigs = 0;
  size_t pos = split + 2;
  if (pos >= len)
    return GL_EPARSE; /* no signature lines */
  while (pos < len) {
    const char *line = msg + pos;
    const char *nl = memchr(line, '\n', len - pos);
    size_t line_len = (size_t)(nl - line); /* msg ends in '\n' */
    if (line_len < SIG_PREFIX_LEN ||
        memcmp(line, sig_prefix, SIG_PREFIX_LEN) != 0)
      return GL_EPARSE;
    const char *name = line + SIG_PREFIX_LEN;
    const char *sp = memchr(name, ' ', line_len - SIG_PREFIX_LEN);
    if (!sp)
      return GL_EPARSE;
    size_t name_len = (size_t)(sp - name);
    if (!lg_key_name_valid(name, name_len))
      return GL_EPARSE;
    const char *b64 = sp + 1;
    size_t b64_len = (size_t)(nl - b64);
    if (b64_len > gl_base64_len(SIG_BYTES_MAX))
      return GL_EPARSE;
    /* Decode to check the syntax and read the key ID; the signature
     * itself is decoded again by lg_note_verify for the keys it knows. */
    uint8_t *raw = malloc(SIG_BYTES_MAX);
    if (!raw)
      return GL_ENOMEM;
    size_t raw_len = 0;
    int rc = gl_base64_decode(b64, b64_len, raw, SIG_BYTES_MAX, &raw_len);
    uint32_t id = rc == 0 && raw_len >= 5
                      ? (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
                            (uint32_t)raw[2] << 8 | (uint32_t)raw[3]
                      : 0;
    free(raw);
    if (rc != 0 || raw_len < 5)
      return GL_EPARSE;
    if (note->nsigs == LG_NOTE_SIGS_MAX)
      return GL_ETOOBIG;
    lg_note_sig *s = &note->sigs[note->nsigs++];
    s->name = name;
    s->name_len = name_len;
    s->id = id;
    s->b64 = b64;
    s->b64_len = b64_len;
    s->line = line;
    s->line_len = line_len + 1;
    pos += line_len + 1;
  }
  return 0;
}

/* The message a cosignature/v1 signs: two header lines, then the text. */
static uint8_t *cosig_message(uint64_t ts, const char *text, size_t len,
                              size_t *out_len) {
  char head[64];
  int n = snprintf(head, sizeof head, "cosignature/v1\ntime %" PRIu64 "\n", ts);
  uint8_t *m = malloc((size_t)n + len);
  if (!m)
    return NULL;
  memcpy(m, head, (size_t)n);
  memcpy(m + n, text, len);
  *out_len = (size_t)n + len;
  return m;
}

static uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

/* Verify one signature from a known key; 0, GL_EVERIFY or GL_ENOMEM. */
static int verify_one(const lg_vkey *key, const lg_note *note,
                      const lg_note_sig *s, uint64_t *ts) {
  uint8_t raw[4 + 8 + GL_ED25519_SIG_LEN + 1];
  size_t raw_len;
  if (gl_base64_decode(s->b64, s->b64_len, raw, sizeof raw, &raw_len) != 0)
    return GL_EVERIFY;
  if (key->type == LG_SIG_ED25519) {
    if (raw_len != 4 + GL_ED25519_SIG_LEN)
      return GL_EVERIFY;
    *ts = 0;
    return gl_ed25519_verify(key->pub, note->text, note->text_len, raw + 4) == 0
               ? 0
               : GL_EVERIFY;
  }
  if (raw_len != 4 + 8 + GL_ED25519_SIG_LEN)
    return GL_EVERIFY;
  uint64_t t = be64(raw + 4);
  if (t > (uint64_t)INT64_MAX)
    return GL_EVERIFY;
  size_t mlen;
  uint8_t *m = cosig_message(t, note->text, note->text_len, &mlen);
  if (!m)
    return GL_ENOMEM;
  int rc = gl_ed25519_verify(key->pub, m, mlen, raw + 12) == 0 ? 0 : GL_EVERIFY;
  free(m);
  *ts = t;
  return rc;
}

int lg_note_verify(const lg_note *note, const lg_vkey *keys, size_t nkeys,
                   bool *verified, uint64_t *timestamps, const char **why) {
  bool *seen = calloc(nkeys ? nkeys : 1, sizeof *seen);
  if (!seen)
    return GL_ENOMEM;
  if (timestamps)
    memset(timestamps, 0, nkeys * sizeof *timestamps);
  int rc = 0;
  size_t good = 0;
  for (size_t i = 0; i < note->nsigs && rc == 0; i++) {
    const lg_note_sig *s = &note->sigs[i];
    for (size_t k = 0; k < nkeys; k++) {
      const lg_vkey *key = &keys[k];
      if (key->id != s->id || strlen(key->name) != s->name_len ||
          memcmp(key->name, s->name, s->name_len) != 0)
        continue;
      if (seen[k]) {
        rc = GL_EVERIFY;
        if (why)
          *why = "a trusted key signed the note twice";
        break;
      }
      seen[k] = true;
      uint64_t ts = 0;
      rc = verify_one(key, note, s, &ts);
      if (rc != 0) {
        if (why)
          *why = "a signature from a trusted key does not verify";
        break;
      }
      if (timestamps)
        timestamps[k] = ts;
      good++;
    }
  }
  if (rc == 0 && good == 0) {
    rc = GL_EVERIFY;
    if (why)
      *why = "no signature from a trusted key";
  }
  if (verified)
    for (size_t k = 0; k < nkeys; k++)
      verified[k] = rc == 0 && seen[k];
  free(seen);
  return rc;
}

int lg_note_sign_line(const lg_signer *signer, const char *text, size_t len,
                      uint64_t timestamp, char *line, size_t cap) {
  if (len == 0 || text[len - 1] != '\n')
    return GL_EINVAL;
  uint8_t raw[4 + 8 + GL_ED25519_SIG_LEN];
  size_t raw_len;
  uint32_t id = signer->vkey.id;
  raw[0] = (uint8_t)(id >> 24);
  raw[1] = (uint8_t)(id >> 16);
  raw[2] = (uint8_t)(id >> 8);
  raw[3] = (uint8_t)id;
  int rc;
  if (signer->vkey.type == LG_SIG_ED25519) {
    rc = gl_ed25519_sign(&signer->key, text, len, raw + 4);
    raw_len = 4 + GL_ED25519_SIG_LEN;
  } else if (signer->vkey.type == LG_SIG_COSIG_V1) {
    if (timestamp > (uint64_t)INT64_MAX)
      return GL_EINVAL;
    for (int i = 0; i < 8; i++)
      raw[4 + i] = (uint8_t)(timestamp >> (56 - 8 * i));
    size_t mlen;
    uint8_t *m = cosig_message(timestamp, text, len, &mlen);
    if (!m)
      return GL_ENOMEM;
    rc = gl_ed25519_sign(&signer->key, m, mlen, raw + 12);
    free(m);
    raw_len = sizeof raw;
  } else {
    return GL_EINVAL;
  }
  if (rc != 0)
    return rc;
  char b64[128];
  rc = gl_base64_encode(raw, raw_len, b64, sizeof b64);
  if (rc != 0)
    return rc;
  int n = snprintf(line, cap, "%s%s %s\n", sig_prefix, signer->vkey.name, b64);
  if (n < 0 || (size_t)n >= cap)
    return GL_ETOOBIG;
  return 0;
}
