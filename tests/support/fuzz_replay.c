/* SPDX-License-Identifier: MIT */
/*
 * fuzz_replay.c - a stand-in for libFuzzer's driver in non-fuzzing builds.
 *
 * Runs LLVMFuzzerTestOneInput on every file of the seed corpus directories
 * (or files) given on the command line, then on deterministic mutations of
 * each seed (bit flips, byte changes, truncations, insertions, splices), so
 * a plain gcc build and the sanitizer build both exercise every parser on
 * its corpus. Real coverage-guided fuzzing is `make fuzz` (clang).
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define MUTATIONS_PER_SEED 300
#define MAX_SEEDS 4096

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

typedef struct {
  uint8_t *data;
  size_t len;
} seed;
static seed seeds[MAX_SEEDS];
static size_t nseeds;

static void load(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
      if (names[i]->d_name[0] != '.') {
        char child[1024];
        snprintf(child, sizeof child, "%s/%s", path, names[i]->d_name);
        load(child);
      }
      free(names[i]);
    }
    free(names);
    return;
  }
  if (nseeds == MAX_SEEDS)
    return;
  FILE *f = fopen(path, "rb");
  if (!f)
    return;
  uint8_t *buf = malloc((size_t)st.st_size + 1);
  size_t len = fread(buf, 1, (size_t)st.st_size, f);
  fclose(f);
  seeds[nseeds].data = buf;
  seeds[nseeds].len = len;
  nseeds++;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  for (int i = 1; i < argc; i++)
    load(argv[i]);
  if (nseeds == 0) {
    /* A misspelt or empty corpus would make this test pass having tested
     * nothing. */
    fprintf(stderr, "fuzz replay: no seed files found in the corpus given\n");
    return 1;
  }
  size_t runs = 0;
  for (size_t i = 0; i < nseeds; i++, runs++)
    LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].len);
  LLVMFuzzerTestOneInput((const uint8_t *)"", 0);

  uint8_t *buf = malloc(1 << 16);
  for (size_t i = 0; i < nseeds; i++) {
    for (int m = 0; m < MUTATIONS_PER_SEED; m++, runs++) {
      size_t len = seeds[i].len < (1 << 15) ? seeds[i].len : (1 << 15);
      memcpy(buf, seeds[i].data, len);
      int nmut = 1 + (int)(next() % 4);
      for (int k = 0; k < nmut; k++) {
        switch (next() % 6) {
        case 0: /* flip a bit */
          if (len)
            buf[next() % len] ^= (uint8_t)(1u << (next() % 8));
          break;
        case 1: /* set a byte to an interesting value */
          if (len) {
            static const uint8_t v[] = {0,    0xff, 0x7f, 0x80, '"',
                                        '\n', '=',  '[',  '0',  '-'};
            buf[next() % len] = v[next() % sizeof v];
          }
          break;
        case 2: /* truncate */
          if (len)
            len = next() % len;
          break;
        case 3: /* insert a byte */
          if (len < (1 << 15)) {
            size_t at = len ? next() % (len + 1) : 0;
            memmove(buf + at + 1, buf + at, len - at);
            buf[at] = (uint8_t)next();
            len++;
          }
          break;
        case 4: /* duplicate a chunk */
          if (len && len < (1 << 14)) {
            size_t at = next() % len, n = 1 + next() % (len - at);
            memcpy(buf + len, buf + at, n);
            len += n;
          }
          break;
        case 5: /* splice another seed */
          if (nseeds > 1) {
            const seed *o = &seeds[next() % nseeds];
            size_t cut = len ? next() % len : 0;
            size_t n = o->len < (1 << 14) ? o->len : (1 << 14);
            memcpy(buf + cut, o->data, n);
            len = cut + n;
          }
          break;
        }
      }
      LLVMFuzzerTestOneInput(buf, len);
    }
  }
  free(buf);
  printf("fuzz replay: %zu seeds, %zu inputs, no crash\n", nseeds, runs);
  for (size_t i = 0; i < nseeds; i++)
    free(seeds[i].data);
  return 0;
}
