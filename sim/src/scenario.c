/* SPDX-License-Identifier: MIT */
/*
 * scenario.c - the scenario file: strict parser, overrides, canonical
 * text, hash and household resolution. See gridlet/sim_scenario.h.
 *
 * The parser is written here rather than on common/conf.h because a
 * scenario has repeated sections ([household ID], any number of them) and
 * ranges; it keeps conf.h's rules (every doubtful line is an error naming
 * file:line, all errors collected) and reuses its number parsers.
 *
 * Parsing runs in two passes over the lines: the first applies the file,
 * the second the command-line overrides ("--set section.key=value"), which
 * may replace a key the file set. Cross-field checks (start before end,
 * alignment to the interval, the tariff band) run once, at the end.
 */
#include "gridlet/sim_scenario.h"

#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/rand.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 1024
#define FILE_MAX (1u << 20)
#define DAY_NS (INT64_C(86400) * GL_NS_PER_SEC)
#define PRICE_LIMIT INT64_C(1000000000) /* µ/kWh, as MKT_PRICE_MAX */

/* ---- Names --------------------------------------------------------------- */

static const char *const source_names[] = {"synthetic", "csv", "ausgrid",
                                           "ledger", NULL};
static const char *const strategy_names[] = {"self-consumption", "price-aware",
                                             "follow-contract", NULL};
static const char *const forecast_names[] = {"yesterday", "previous", "perfect",
                                             NULL};

const char *sim_source_name(sim_source_kind k) {
  return (unsigned)k < 4 ? source_names[k] : "?";
}

const char *sim_strategy_name(sim_strategy s) {
  return (unsigned)s < 3 ? strategy_names[s] : "?";
}

const char *sim_forecast_name(sim_forecast f) {
  return (unsigned)f < 3 ? forecast_names[f] : "?";
}

static int name_index(const char *const *names, const char *s) {
  for (int i = 0; names[i]; i++)
    if (strcmp(names[i], s) == 0)
      return i;
  return -1;
}

bool sim_id_valid(const char *id, size_t len) {
  static const char *const reserved[] = {"aggregator", "broker", "witness",
                                         "admin", "ca"};
  if (len < 1 || len > SIM_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = id[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
      return false;
  }
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strlen(reserved[i]) == len && memcmp(reserved[i], id, len) == 0)
      return false;
  return true;
}

/* ---- Decimal text -------------------------------------------------------- */

/* v / 10^scale as the shortest exact decimal ("0.3", "5", "-1.25"). */
static char *fmt_dec(int64_t v, int scale, char *buf, size_t cap) {
  int64_t p = 1;
  for (int i = 0; i < scale; i++)
    p *= 10;
  uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  uint64_t ip = a / (uint64_t)p, fp = a % (uint64_t)p;
  int n =
      snprintf(buf, cap, "%s%llu", v < 0 ? "-" : "", (unsigned long long)ip);
  if (fp && scale > 0 && scale <= 9) {
    char frac[24];
    size_t fl = (size_t)scale;
    frac[fl] = '\0';
    for (size_t i = fl; i-- > 0; fp /= 10)
      frac[i] = (char)('0' + fp % 10);
    while (fl > 0 && frac[fl - 1] == '0')
      frac[--fl] = '\0';
    snprintf(buf + n, cap - (size_t)n, ".%s", frac);
  }
  return buf;
}

/* ---- Mechanisms ---------------------------------------------------------- */

int sim_mechanism_parse(const char *spec, const sim_mechanism *base,
                        sim_mechanism *out, const char **why) {
  const char *dummy;
  if (!why)
    why = &dummy;
  sim_mechanism m;
  memset(&m, 0, sizeof m);
  if (base) {
    m.rationing = base->rationing;
    m.allow_self_trade = base->allow_self_trade;
  }
  m.rule = MKT_RULE_MARGINAL;
  m.k_ppm = 500000;
  char buf[64];
  size_t n = strlen(spec);
  if (n == 0 || n >= sizeof buf) {
    *why = "a mechanism is MODE[/RULE[:K]], e.g. expost/k:0.5";
    return GL_EINVAL;
  }
  memcpy(buf, spec, n + 1);
  char *rule = strchr(buf, '/');
  if (rule)
    *rule++ = '\0';
  if (mkt_mode_parse(buf, &m.mode)) {
    *why = "the mode must be expost, exante or continuous";
    return GL_EINVAL;
  }
  if (m.mode == MKT_MODE_CONTINUOUS && rule) {
    *why = "continuous takes no price rule (trades are at resting prices)";
    return GL_EINVAL;
  }
  if (rule) {
    char *k = strchr(rule, ':');
    if (k)
      *k++ = '\0';
    if (mkt_rule_parse(rule, &m.rule)) {
      *why = "the rule must be marginal, k, mcafee or pay-as-bid";
      return GL_EINVAL;
    }
    if (k) {
      int64_t v;
      if (m.rule != MKT_RULE_K) {
        *why = "only the k rule takes a value (k:0.5)";
        return GL_EINVAL;
      }
      if (gl_conf_parse_decimal(k, 6, &v) || v < 0 || v > SIM_PPM) {
        *why = "k must be a decimal in [0, 1] with at most 6 digits";
        return GL_EINVAL;
      }
      m.k_ppm = (int32_t)v;
    } else if (m.rule == MKT_RULE_K && base && base->rule == MKT_RULE_K) {
      m.k_ppm = base->k_ppm;
    }
  }
  if (m.mode == MKT_MODE_CONTINUOUS) {
    snprintf(m.name, sizeof m.name, "continuous");
  } else if (m.rule == MKT_RULE_K) {
    char d[32];
    snprintf(m.name, sizeof m.name, "%s/k:%s", mkt_mode_name(m.mode),
             fmt_dec(m.k_ppm, 6, d, sizeof d));
  } else {
    snprintf(m.name, sizeof m.name, "%s/%s", mkt_mode_name(m.mode),
             mkt_rule_name(m.rule));
  }
  *out = m;
  return 0;
}

char *sim_mechanism_dirname(const sim_mechanism *m, char *out, size_t cap) {
  snprintf(out, cap, "%s", m->name);
  for (char *p = out; *p; p++)
    if (*p == '/' || *p == ':')
      *p = '-';
  return out;
}

/* ---- Household keys ------------------------------------------------------ */

enum { HV_DEC, HV_ENUM };

static const struct hkey_def {
  const char *name;
  int kind;
  int scale;
  int64_t lo, hi; /* stored units */
  const char *const *choices;
} hkeys[SIM_HK_COUNT] = {
    [SIM_HK_LOAD_KWH] = {"load_kwh", HV_DEC, 3, 0, INT64_C(1000000000), NULL},
    [SIM_HK_PV_KWP] = {"pv_kwp", HV_DEC, 3, 0, INT64_C(10000000), NULL},
    [SIM_HK_LOAD_SCALE] = {"load_scale", HV_DEC, 6, 0, 100 * SIM_PPM, NULL},
    [SIM_HK_PV_SCALE] = {"pv_scale", HV_DEC, 6, 0, 100 * SIM_PPM, NULL},
    [SIM_HK_BATTERY_KWH] = {"battery_kwh", HV_DEC, 3, 0, INT64_C(100000000),
                            NULL},
    [SIM_HK_BATTERY_KW] = {"battery_kw", HV_DEC, 3, 0, INT64_C(10000000), NULL},
    [SIM_HK_BATTERY_CHARGE_KW] = {"battery_charge_kw", HV_DEC, 3, 0,
                                  INT64_C(10000000), NULL},
    [SIM_HK_BATTERY_DISCHARGE_KW] = {"battery_discharge_kw", HV_DEC, 3, 0,
                                     INT64_C(10000000), NULL},
    [SIM_HK_BATTERY_EFFICIENCY] = {"battery_efficiency", HV_DEC, 6, SIM_PPM / 2,
                                   SIM_PPM, NULL},
    [SIM_HK_BATTERY_RESERVE] = {"battery_reserve", HV_DEC, 6, 0,
                                SIM_PPM * 9 / 10, NULL},
    [SIM_HK_BATTERY_INITIAL] = {"battery_initial", HV_DEC, 6, 0, SIM_PPM, NULL},
    [SIM_HK_STRATEGY] = {"strategy", HV_ENUM, 0, 0, 2, strategy_names},
    [SIM_HK_FORECAST] = {"forecast", HV_ENUM, 0, 0, 2, forecast_names},
    [SIM_HK_BUY_LIMIT] = {"buy_limit", HV_DEC, 6, -PRICE_LIMIT, PRICE_LIMIT,
                          NULL},
    [SIM_HK_SELL_LIMIT] = {"sell_limit", HV_DEC, 6, -PRICE_LIMIT, PRICE_LIMIT,
                           NULL},
    [SIM_HK_CHARGE_BELOW] = {"charge_below", HV_DEC, 6, -PRICE_LIMIT,
                             PRICE_LIMIT, NULL},
    [SIM_HK_DISCHARGE_ABOVE] = {"discharge_above", HV_DEC, 6, -PRICE_LIMIT,
                                PRICE_LIMIT, NULL},
};

/* Keys that describe the synthetic generator's household only. */
static bool synthetic_only(int k) {
  return k == SIM_HK_LOAD_KWH || k == SIM_HK_PV_KWP;
}

/* ---- Parser state -------------------------------------------------------- */

enum section {
  SEC_NONE,
  SEC_SCENARIO,
  SEC_MARKET,
  SEC_TARIFF,
  SEC_INPUT,
  SEC_SYNTHETIC,
  SEC_DEFAULTS,
  SEC_HOUSEHOLD,
  SEC_COUNT
};

static const char *const section_names[] = {"",         "scenario", "market",
                                            "tariff",   "input",    "synthetic",
                                            "defaults", "household"};

/* Keys of the fixed sections, each with its bit in `seen`. */
static const char *const keys_scenario[] = {
    "name", "seed", "start", "end", "days", "interval", "currency", NULL};
static const char *const keys_market[] = {
    "mode", "rule", "k", "rationing", "self_trade", "compare", NULL};
static const char *const keys_tariff[] = {"retail", "feed_in", "network_fee",
                                          NULL};
static const char *const keys_input[] = {
    "source",          "path",     "step",
    "timestamps",      "unit",     "utc_offset",
    "controlled_load", "resample", "missing",
    "verify",          NULL};
static const char *const keys_synthetic[] = {
    "latitude",          "longitude",  "utc_offset", "cloudiness",
    "performance_ratio", "load_noise", NULL};

static const char *const *const section_keys[SEC_COUNT] = {
    NULL,       keys_scenario,  keys_market, keys_tariff,
    keys_input, keys_synthetic, NULL,        NULL};

typedef struct parser {
  sim_scenario *sc;
  sim_diag *diag;
  const char *file;
  int errors;
  /* Current section. */
  enum section sec;
  sim_home_spec *spec; /* defaults or a household */
  bool in_override;
  uint32_t seen[SEC_COUNT]; /* keys given per fixed section */
  bool section_seen[SEC_COUNT];
  /* Raw texts whose meaning depends on other keys, resolved at the end. */
  char compare[512];
  int compare_line;
  bool has_end, has_days;
  int64_t days;
  bool tariff_retail, tariff_feed_in;
  int line_start, line_end, line_days, line_interval;
  bool step_set, utc_set;
  size_t cap_specs;
} parser;

static void perr(parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void perr(parser *p, int line, const char *fmt, ...) {
  char buf[SIM_DIAG_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (line > 0)
    sim_diag_add(p->diag, "%s:%d: %s", p->file, line, buf);
  else if (p->in_override)
    sim_diag_add(p->diag, "%s: --set: %s", p->file, buf);
  else
    sim_diag_add(p->diag, "%s: %s", p->file, buf);
  p->errors++;
}

/* ---- Value parsers (return NULL or a static reason) ---------------------- */

static const char *parse_dec(const char *v, int scale, int64_t lo, int64_t hi,
                             int64_t *out) {
  int64_t x;
  int rc = gl_conf_parse_decimal(v, scale, &x);
  if (rc == GL_ERANGE)
    return "has too many digits";
  if (rc)
    return "is not a decimal number";
  if (x < lo || x > hi)
    return "is out of range";
  *out = x;
  return NULL;
}

static const char *parse_range(const char *v, int scale, int64_t lo, int64_t hi,
                               sim_range *out) {
  const char *dots = strstr(v, "..");
  if (!dots) {
    const char *why = parse_dec(v, scale, lo, hi, &out->lo);
    out->hi = out->lo;
    return why;
  }
  char a[64];
  size_t n = (size_t)(dots - v);
  if (n >= sizeof a)
    return "is too long";
  memcpy(a, v, n);
  a[n] = '\0';
  const char *why = parse_dec(a, scale, lo, hi, &out->lo);
  if (!why)
    why = parse_dec(dots + 2, scale, lo, hi, &out->hi);
  if (!why && out->lo > out->hi)
    why = "is a range whose low end exceeds its high end";
  return why;
}

static const char *parse_bool(const char *v, bool *out) {
  static const char *const t[] = {"true", "yes", "on", "1"};
  static const char *const f[] = {"false", "no", "off", "0"};
  for (int i = 0; i < 4; i++) {
    if (strcmp(v, t[i]) == 0) {
      *out = true;
      return NULL;
    }
    if (strcmp(v, f[i]) == 0) {
      *out = false;
      return NULL;
    }
  }
  return "must be true or false";
}

/* "+10:00", "-03:30", "Z" or "+00:00" into seconds east of UTC. */
static const char *parse_offset(const char *v, int32_t *out) {
  if (strcmp(v, "Z") == 0 || strcmp(v, "UTC") == 0) {
    *out = 0;
    return NULL;
  }
  if ((v[0] != '+' && v[0] != '-') || strlen(v) != 6 || v[3] != ':')
    return "must be an offset like +10:00 or -03:30 (or Z)";
  for (int i = 1; i < 6; i++)
    if (i != 3 && (v[i] < '0' || v[i] > '9'))
      return "must be an offset like +10:00 or -03:30 (or Z)";
  int h = (v[1] - '0') * 10 + (v[2] - '0');
  int m = (v[4] - '0') * 10 + (v[5] - '0');
  if (h > 14 || m > 59)
    return "is out of range (-14:00 .. +14:00)";
  int s = h * 3600 + m * 60;
  *out = v[0] == '-' ? -s : s;
  return NULL;
}

static const char *parse_time(const char *v, int64_t *out) {
  int rc = gl_time_parse(v, out);
  if (rc == GL_ERANGE)
    return "is outside 1970..2262";
  if (rc)
    return "must be an RFC 3339 time like 2026-01-01T00:00:00Z";
  return NULL;
}

static const char *parse_enum(const char *v, const char *const *names,
                              int *out) {
  int i = name_index(names, v);
  if (i < 0)
    return "is not one of the allowed words";
  *out = i;
  return NULL;
}

/* ---- Fixed sections ------------------------------------------------------ */

static int key_index(const char *const *keys, const char *key) {
  for (int i = 0; keys[i]; i++)
    if (strcmp(keys[i], key) == 0)
      return i;
  return -1;
}

/* Join a list of allowed words for a message. */
static const char *words(const char *const *names, char *buf, size_t cap) {
  size_t o = 0;
  buf[0] = '\0';
  for (int i = 0; names[i] && o + 2 < cap; i++)
    o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", names[i]);
  return buf;
}

static const char *apply_scenario(parser *p, const char *key, const char *v,
                                  int line) {
  sim_scenario *sc = p->sc;
  if (strcmp(key, "name") == 0) {
    size_t n = strlen(v);
    if (n > SIM_NAME_MAX)
      return "is longer than 63 characters";
    for (size_t i = 0; i < n; i++) {
      char c = v[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                (i > 0 && (c == '-' || c == '_' || c == '.'));
      if (!ok)
        return "must match [a-z0-9][a-z0-9._-]* (it names output files)";
    }
    if (n == 0)
      return "is empty";
    memcpy(sc->name, v, n + 1);
  } else if (strcmp(key, "seed") == 0) {
    int64_t s;
    if (gl_conf_parse_int(v, &s) || s < 0)
      return "must be an integer 0 .. 9223372036854775807";
    sc->seed = (uint64_t)s;
  } else if (strcmp(key, "start") == 0) {
    const char *why = parse_time(v, &sc->start);
    if (why)
      return why;
    sc->has_start = true;
    p->line_start = line;
  } else if (strcmp(key, "end") == 0) {
    const char *why = parse_time(v, &sc->end);
    if (why)
      return why;
    if (p->in_override)
      p->has_days = false;
    p->has_end = true;
    p->line_end = line;
  } else if (strcmp(key, "days") == 0) {
    int64_t d;
    if (gl_conf_parse_int(v, &d) || d < 1 || d > 36600)
      return "must be a whole number of days 1 .. 36600";
    if (p->in_override)
      p->has_end = false;
    p->days = d;
    p->has_days = true;
    p->line_days = line;
  } else if (strcmp(key, "interval") == 0) {
    int64_t ns;
    if (gl_duration_parse(v, &ns))
      return "must be a duration like 15m";
    if (ns < 60 * GL_NS_PER_SEC || ns > DAY_NS || DAY_NS % ns != 0 ||
        ns % GL_NS_PER_SEC != 0)
      return "must be whole seconds from 1m to 1d that divide one day";
    sc->interval = ns;
    p->line_interval = line;
  } else if (strcmp(key, "currency") == 0) {
    size_t n = strlen(v);
    if (n < 1 || n >= sizeof sc->currency)
      return "must be 1 to 7 letters (e.g. EUR)";
    for (size_t i = 0; i < n; i++)
      if (!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z')))
        return "must be 1 to 7 letters (e.g. EUR)";
    memcpy(sc->currency, v, n + 1);
  }
  return NULL;
}

static const char *apply_market(parser *p, const char *key, const char *v,
                                int line) {
  sim_mechanism *m = &p->sc->market;
  if (strcmp(key, "mode") == 0) {
    if (mkt_mode_parse(v, &m->mode))
      return "must be expost, exante or continuous";
  } else if (strcmp(key, "rule") == 0) {
    if (mkt_rule_parse(v, &m->rule))
      return "must be marginal, k, mcafee or pay-as-bid";
  } else if (strcmp(key, "k") == 0) {
    int64_t k;
    const char *why = parse_dec(v, 6, 0, SIM_PPM, &k);
    if (why)
      return why;
    m->k_ppm = (int32_t)k;
  } else if (strcmp(key, "rationing") == 0) {
    if (mkt_rationing_parse(v, &m->rationing))
      return "must be pro-rata or time";
  } else if (strcmp(key, "self_trade") == 0) {
    if (strcmp(v, "prevent") == 0)
      m->allow_self_trade = false;
    else if (strcmp(v, "allow") == 0)
      m->allow_self_trade = true;
    else
      return "must be prevent or allow";
  } else if (strcmp(key, "compare") == 0) {
    size_t n = strlen(v);
    if (n >= sizeof p->compare)
      return "is too long";
    memcpy(p->compare, v, n + 1);
    p->compare_line = line;
  }
  return NULL;
}

static const char *apply_tariff(parser *p, const char *key, const char *v) {
  mkt_band *b = &p->sc->band;
  int64_t x;
  const char *why = parse_dec(v, 6, -PRICE_LIMIT, PRICE_LIMIT, &x);
  if (why)
    return why;
  if (strcmp(key, "retail") == 0) {
    b->retail = x;
    p->tariff_retail = true;
  } else if (strcmp(key, "feed_in") == 0) {
    b->feed_in = x;
    p->tariff_feed_in = true;
  } else {
    if (x < 0)
      return "must not be negative";
    b->fee = x;
  }
  return NULL;
}

static const char *apply_input(parser *p, const char *key, const char *v) {
  sim_scenario *sc = p->sc;
  static const char *const ts_names[] = {"start", "end", NULL};
  static const char *const unit_names[] = {"wh", "kwh", NULL};
  static const char *const cl_names[] = {"exclude", "include", NULL};
  static const char *const rs_names[] = {"refuse", "even", NULL};
  static const char *const miss_names[] = {"error", "absent", NULL};
  int e = 0;
  const char *why = NULL;
  if (strcmp(key, "source") == 0) {
    if (!(why = parse_enum(v, source_names, &e)))
      sc->source = (sim_source_kind)e;
  } else if (strcmp(key, "path") == 0) {
    size_t n = strlen(v);
    if (n == 0)
      return "is empty";
    int w;
    if (v[0] == '/')
      w = snprintf(sc->input, sizeof sc->input, "%s", v);
    else
      w = snprintf(sc->input, sizeof sc->input, "%s/%s", sc->dir, v);
    if (w < 0 || (size_t)w >= sizeof sc->input || n >= sizeof sc->input_path)
      return "is too long";
    memcpy(sc->input_path, v, n + 1);
  } else if (strcmp(key, "step") == 0) {
    int64_t ns;
    if (gl_duration_parse(v, &ns) || ns < 60 * GL_NS_PER_SEC || ns > DAY_NS ||
        DAY_NS % ns != 0 || ns % GL_NS_PER_SEC != 0)
      return "must be whole seconds from 1m to 1d that divide one day";
    sc->step = ns;
    p->step_set = true;
  } else if (strcmp(key, "timestamps") == 0) {
    if (!(why = parse_enum(v, ts_names, &e)))
      sc->timestamps_end = e == 1;
  } else if (strcmp(key, "unit") == 0) {
    if (!(why = parse_enum(v, unit_names, &e)))
      sc->unit_kwh = e == 1;
  } else if (strcmp(key, "utc_offset") == 0) {
    if (!(why = parse_offset(v, &sc->utc_offset_s))) {
      sc->has_utc_offset = true;
      p->utc_set = true;
    }
  } else if (strcmp(key, "controlled_load") == 0) {
    if (!(why = parse_enum(v, cl_names, &e)))
      sc->controlled_load = e == 1;
  } else if (strcmp(key, "resample") == 0) {
    if (!(why = parse_enum(v, rs_names, &e)))
      sc->resample_even = e == 1;
  } else if (strcmp(key, "missing") == 0) {
    if (!(why = parse_enum(v, miss_names, &e)))
      sc->missing_absent = e == 1;
  } else if (strcmp(key, "verify") == 0) {
    why = parse_bool(v, &sc->verify);
  }
  return why;
}

static const char *apply_synthetic(parser *p, const char *key, const char *v) {
  sim_scenario *sc = p->sc;
  if (strcmp(key, "latitude") == 0)
    return parse_dec(v, 6, -66000000, 66000000, &sc->latitude_udeg);
  if (strcmp(key, "longitude") == 0)
    return parse_dec(v, 6, -180000000, 180000000, &sc->longitude_udeg);
  if (strcmp(key, "utc_offset") == 0)
    return parse_offset(v, &sc->synth_utc_offset_s);
  if (strcmp(key, "cloudiness") == 0)
    return parse_dec(v, 6, 0, SIM_PPM, &sc->cloudiness_ppm);
  if (strcmp(key, "performance_ratio") == 0)
    return parse_dec(v, 6, SIM_PPM / 10, SIM_PPM, &sc->performance_ratio_ppm);
  if (strcmp(key, "load_noise") == 0)
    return parse_dec(v, 6, 0, SIM_PPM / 2, &sc->load_noise_ppm);
  return NULL;
}

/* ---- Household sections -------------------------------------------------- */

static const char *apply_home(parser *p, sim_home_spec *h, const char *key,
                              const char *v, int line) {
  if (strcmp(key, "count") == 0) {
    if (!h->id[0])
      return "belongs in a [household ID] section, not [defaults]";
    if (h->count && !p->in_override)
      return "is given twice";
    int64_t c;
    if (gl_conf_parse_int(v, &c) || c < 1 || c > SIM_HOMES_MAX)
      return "must be a whole number 1 .. 100000";
    h->count = c;
    return NULL;
  }
  for (int k = 0; k < SIM_HK_COUNT; k++) {
    const struct hkey_def *d = &hkeys[k];
    if (strcmp(key, d->name) != 0)
      continue;
    if ((h->set & (1u << k)) && !p->in_override)
      return "is given twice in this section";
    const char *why;
    if (d->kind == HV_ENUM) {
      int e = 0;
      why = parse_enum(v, d->choices, &e);
      h->v[k].lo = h->v[k].hi = e;
    } else {
      why = parse_range(v, d->scale, d->lo, d->hi, &h->v[k]);
    }
    if (!why)
      h->set |= 1u << k;
    return why;
  }
  (void)line;
  return "";
}

/* ---- Lines --------------------------------------------------------------- */

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = '\0';
  return s;
}

static sim_home_spec *new_spec(parser *p, const char *id, int line) {
  sim_scenario *sc = p->sc;
  for (size_t i = 0; i < sc->n_specs; i++)
    if (strcmp(sc->specs[i].id, id) == 0)
      return NULL;
  if (sc->n_specs == p->cap_specs) {
    size_t cap = p->cap_specs ? p->cap_specs * 2 : 16;
    sim_home_spec *s = realloc(sc->specs, cap * sizeof *s);
    if (!s)
      return NULL;
    sc->specs = s;
    p->cap_specs = cap;
  }
  sim_home_spec *h = &sc->specs[sc->n_specs++];
  memset(h, 0, sizeof *h);
  snprintf(h->id, sizeof h->id, "%s", id);
  h->line = line;
  return h;
}

static void section_line(parser *p, char *s, int line) {
  size_t n = strlen(s);
  if (s[n - 1] != ']') {
    perr(p, line, "a section header must end with ']'");
    p->sec = SEC_NONE;
    return;
  }
  s[n - 1] = '\0';
  char *name = trim(s + 1);
  char *arg = NULL;
  char *sp = strpbrk(name, " \t");
  if (sp) {
    *sp = '\0';
    arg = trim(sp + 1);
  }
  p->spec = NULL;
  p->sec = SEC_NONE;
  for (int i = 1; i < SEC_COUNT; i++)
    if (strcmp(name, section_names[i]) == 0)
      p->sec = (enum section)i;
  char shown[64];
  if (p->sec == SEC_NONE) {
    perr(p, line,
         "unknown section [%s] (sections: scenario, market, tariff, input, "
         "synthetic, defaults, household ID)",
         sim_diag_show(name, strlen(name), shown, sizeof shown));
    return;
  }
  if (p->sec == SEC_HOUSEHOLD) {
    if (!arg || !*arg || !sim_id_valid(arg, strlen(arg))) {
      perr(p, line,
           "[household ID] needs an id matching [a-z0-9][a-z0-9._-]{0,62} "
           "(not a reserved name), got '%s'",
           arg ? sim_diag_show(arg, strlen(arg), shown, sizeof shown) : "");
      p->sec = SEC_NONE;
      return;
    }
    p->spec = new_spec(p, arg, line);
    if (!p->spec) {
      perr(p, line, "household '%s' has a section already", arg);
      p->sec = SEC_NONE;
    }
    return;
  }
  if (arg) {
    perr(p, line, "[%s] takes no name", name);
    p->sec = SEC_NONE;
    return;
  }
  if (p->section_seen[p->sec]) {
    perr(p, line, "section [%s] is given twice", name);
    p->sec = SEC_NONE;
    return;
  }
  p->section_seen[p->sec] = true;
  if (p->sec == SEC_DEFAULTS) {
    p->spec = &p->sc->defaults;
    p->spec->line = line;
  }
}

/* Apply one key = value of the current section. */
static void key_line(parser *p, const char *key, const char *v, int line) {
  char shown[64], ws[256];
  if (p->sec == SEC_NONE)
    return; /* the section header already failed, or no section yet */
  if (p->sec == SEC_DEFAULTS || p->sec == SEC_HOUSEHOLD) {
    const char *why = apply_home(p, p->spec, key, v, line);
    if (why && !*why)
      perr(p, line, "unknown key '%s' in a household section",
           sim_diag_show(key, strlen(key), shown, sizeof shown));
    else if (why)
      perr(p, line, "%s: '%s' %s", key,
           sim_diag_show(v, strlen(v), shown, sizeof shown), why);
    return;
  }
  const char *const *keys = section_keys[p->sec];
  int ki = key_index(keys, key);
  if (ki < 0) {
    perr(p, line, "unknown key '%s' in [%s] (keys: %s)",
         sim_diag_show(key, strlen(key), shown, sizeof shown),
         section_names[p->sec], words(keys, ws, sizeof ws));
    return;
  }
  if ((p->seen[p->sec] & (1u << ki)) && !p->in_override) {
    perr(p, line, "%s.%s is given twice", section_names[p->sec], key);
    return;
  }
  p->seen[p->sec] |= 1u << ki;
  const char *why = NULL;
  switch (p->sec) {
  case SEC_SCENARIO:
    why = apply_scenario(p, key, v, line);
    break;
  case SEC_MARKET:
    why = apply_market(p, key, v, line);
    break;
  case SEC_TARIFF:
    why = apply_tariff(p, key, v);
    break;
  case SEC_INPUT:
    why = apply_input(p, key, v);
    break;
  case SEC_SYNTHETIC:
    why = apply_synthetic(p, key, v);
    break;
  default:
    break;
  }
  if (why)
    perr(p, line, "%s.%s: '%s' %s", section_names[p->sec], key,
         sim_diag_show(v, strlen(v), shown, sizeof shown), why);
}

static void parse_lines(parser *p, const char *text, size_t len) {
  size_t pos = 0;
  int line = 0;
  char buf[LINE_MAX_LEN + 2];
  while (pos < len) {
    line++;
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
    const char *l = text + pos;
    pos += n + (nl ? 1 : 0);
    if (n > 0 && l[n - 1] == '\r')
      n--;
    if (n > LINE_MAX_LEN) {
      perr(p, line, "line longer than %d bytes", LINE_MAX_LEN);
      continue;
    }
    if (memchr(l, '\0', n)) {
      perr(p, line, "NUL byte in the line");
      continue;
    }
    memcpy(buf, l, n);
    buf[n] = '\0';
    bool ctl = false;
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t')
        ctl = true;
    if (ctl) {
      perr(p, line, "control character in the line");
      continue;
    }
    char *s = trim(buf);
    if (!*s || *s == '#' || *s == ';')
      continue;
    if (*s == '[') {
      section_line(p, s, line);
      continue;
    }
    char *eq = strchr(s, '=');
    if (!eq) {
      char shown[64];
      perr(p, line, "expected [section] or key = value, got '%s'",
           sim_diag_show(s, strlen(s), shown, sizeof shown));
      continue;
    }
    *eq = '\0';
    char *key = trim(s), *v = trim(eq + 1);
    if (!*key) {
      perr(p, line, "a key is missing before '='");
      continue;
    }
    if (p->sec == SEC_NONE && !p->section_seen[0]) {
      perr(p, line, "key '%s' outside any section", key);
      p->section_seen[0] = true; /* report once */
      continue;
    }
    key_line(p, key, v, line);
  }
}

/* "section.key=value" or "household:ID.key=value". */
static void apply_override(parser *p, const char *set) {
  char buf[LINE_MAX_LEN + 1];
  size_t n = strlen(set);
  if (n > LINE_MAX_LEN) {
    perr(p, 0, "override longer than %d bytes", LINE_MAX_LEN);
    return;
  }
  memcpy(buf, set, n + 1);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t') {
      perr(p, 0, "control character in an override");
      return;
    }
  char *eq = strchr(buf, '=');
  char *dot = strchr(buf, '.');
  if (!eq || !dot || dot > eq) {
    perr(p, 0, "'%s' is not section.key=value", set);
    return;
  }
  *eq = '\0';
  *dot = '\0';
  char *sec = trim(buf), *key = trim(dot + 1), *v = trim(eq + 1);
  p->sec = SEC_NONE;
  p->spec = NULL;
  char *colon = strchr(sec, ':');
  if (colon) {
    *colon = '\0';
    if (strcmp(sec, "household") != 0) {
      perr(p, 0, "only household:ID takes an id in '%s'", set);
      return;
    }
    for (size_t i = 0; i < p->sc->n_specs; i++)
      if (strcmp(p->sc->specs[i].id, colon + 1) == 0)
        p->spec = &p->sc->specs[i];
    if (!p->spec) {
      perr(p, 0, "no [household %s] section to override", colon + 1);
      return;
    }
    p->sec = SEC_HOUSEHOLD;
  } else {
    for (int i = 1; i < SEC_COUNT; i++)
      if (strcmp(sec, section_names[i]) == 0 && i != SEC_HOUSEHOLD)
        p->sec = (enum section)i;
    if (p->sec == SEC_NONE) {
      perr(p, 0, "unknown section '%s' in '%s'", sec, set);
      return;
    }
    if (p->sec == SEC_DEFAULTS)
      p->spec = &p->sc->defaults;
    p->section_seen[p->sec] = true;
  }
  key_line(p, key, v, 0);
}

/* ---- Defaults and cross-field checks ------------------------------------- */

static void set_defaults(sim_scenario *sc) {
  snprintf(sc->name, sizeof sc->name, "scenario");
  sc->interval = 15 * 60 * GL_NS_PER_SEC;
  snprintf(sc->currency, sizeof sc->currency, "EUR");
  sc->market.mode = MKT_MODE_EXPOST;
  sc->market.rule = MKT_RULE_MARGINAL;
  sc->market.k_ppm = 500000;
  sc->market.rationing = MKT_RATION_PRO_RATA;
  sc->source = SIM_SOURCE_SYNTHETIC;
  sc->controlled_load = true;
  sc->resample_even = true;
  sc->verify = true;
  sc->latitude_udeg = -33870000;
  sc->longitude_udeg = 151210000;
  sc->synth_utc_offset_s = 10 * 3600;
  sc->cloudiness_ppm = 350000;
  sc->performance_ratio_ppm = 800000;
  sc->load_noise_ppm = 150000;
}

static void default_compare(sim_scenario *sc) {
  static const mkt_rule rules[] = {MKT_RULE_MARGINAL, MKT_RULE_K,
                                   MKT_RULE_MCAFEE, MKT_RULE_PAY_AS_BID};
  mkt_mode mode = sc->market.mode;
  size_t n = 0;
  if (mode == MKT_MODE_CONTINUOUS) {
    sim_mechanism_parse("continuous", &sc->market, &sc->compare[n++], NULL);
    mode = MKT_MODE_EXANTE;
  }
  for (size_t i = 0; i < 4; i++) {
    char spec[48];
    char d[32];
    if (rules[i] == MKT_RULE_K)
      snprintf(spec, sizeof spec, "%s/k:%s", mkt_mode_name(mode),
               fmt_dec(sc->market.k_ppm, 6, d, sizeof d));
    else
      snprintf(spec, sizeof spec, "%s/%s", mkt_mode_name(mode),
               mkt_rule_name(rules[i]));
    sim_mechanism_parse(spec, &sc->market, &sc->compare[n++], NULL);
  }
  sc->n_compare = n;
}

static void parse_compare(parser *p) {
  sim_scenario *sc = p->sc;
  if (!p->compare[0]) {
    default_compare(sc);
    return;
  }
  char buf[sizeof p->compare];
  memcpy(buf, p->compare, sizeof buf);
  char *s = buf;
  sc->n_compare = 0;
  for (;;) {
    char *comma = strchr(s, ',');
    if (comma)
      *comma = '\0';
    char *item = trim(s);
    const char *why = NULL;
    if (sc->n_compare == SIM_MECHANISMS_MAX) {
      perr(p, p->compare_line, "market.compare: more than %d mechanisms",
           SIM_MECHANISMS_MAX);
      return;
    }
    sim_mechanism *m = &sc->compare[sc->n_compare];
    if (sim_mechanism_parse(item, &sc->market, m, &why)) {
      perr(p, p->compare_line, "market.compare: '%s': %s", item, why);
    } else {
      for (size_t i = 0; i < sc->n_compare; i++)
        if (strcmp(sc->compare[i].name, m->name) == 0) {
          perr(p, p->compare_line, "market.compare: %s is listed twice",
               m->name);
          sc->n_compare--;
          break;
        }
      sc->n_compare++;
    }
    if (!comma)
      break;
    s = comma + 1;
  }
}

static void finish(parser *p) {
  sim_scenario *sc = p->sc;
  /* The market section's own mechanism gets its canonical name. */
  char spec[48], d[32];
  if (sc->market.mode == MKT_MODE_CONTINUOUS)
    snprintf(spec, sizeof spec, "continuous");
  else if (sc->market.rule == MKT_RULE_K)
    snprintf(spec, sizeof spec, "%s/k:%s", mkt_mode_name(sc->market.mode),
             fmt_dec(sc->market.k_ppm, 6, d, sizeof d));
  else
    snprintf(spec, sizeof spec, "%s/%s", mkt_mode_name(sc->market.mode),
             mkt_rule_name(sc->market.rule));
  sim_mechanism_parse(spec, &sc->market, &sc->market, NULL);
  parse_compare(p);

  if (p->has_days) {
    if (!sc->has_start)
      perr(p, p->line_days, "scenario.days needs scenario.start");
    else
      sc->end = sc->start + p->days * DAY_NS;
    sc->has_end = true;
  } else if (p->has_end) {
    sc->has_end = true;
  }
  if (sc->has_start && sc->start % sc->interval != 0)
    perr(p, p->line_start,
         "scenario.start is not on an interval boundary (intervals are "
         "aligned to UTC midnight)");
  if (sc->has_end && sc->end % sc->interval != 0)
    perr(p, p->line_end ? p->line_end : p->line_days,
         "scenario.end is not on an interval boundary");
  if (sc->has_start && sc->has_end && sc->end <= sc->start)
    perr(p, p->line_end ? p->line_end : p->line_days,
         "scenario.end must be after scenario.start");

  bool data = sc->source != SIM_SOURCE_SYNTHETIC;
  if (sc->source == SIM_SOURCE_SYNTHETIC && (!sc->has_start || !sc->has_end))
    perr(p, 0,
         "synthetic input needs scenario.start and scenario.end (or days)");
  if (data && !sc->input[0])
    perr(p, 0, "input.path is required for %s input",
         sim_source_name(sc->source));
  if (!p->step_set)
    sc->step = sc->source == SIM_SOURCE_AUSGRID ? 30 * 60 * GL_NS_PER_SEC
                                                : sc->interval;
  if (sc->source == SIM_SOURCE_AUSGRID) {
    if (p->step_set && sc->step != 30 * 60 * GL_NS_PER_SEC)
      perr(p, 0, "input.step: Ausgrid data is half-hourly");
    if (!p->utc_set) {
      sc->utc_offset_s = 10 * 3600; /* AEST, the dataset's time */
      sc->has_utc_offset = true;
    }
  }
  if (sc->source == SIM_SOURCE_LEDGER) {
    bool homes = sc->defaults.set != 0 || sc->n_specs > 0;
    if (homes)
      perr(p, 0,
           "household sections do not apply to ledger input "
           "(it replays recorded measurements and orders)");
  }
  /* Tariffs: required unless a ledger provides them per interval. */
  sc->has_tariff = p->section_seen[SEC_TARIFF];
  if (sc->has_tariff || sc->source != SIM_SOURCE_LEDGER) {
    if (!p->tariff_retail || !p->tariff_feed_in)
      perr(p, 0, "[tariff] needs retail and feed_in");
    else if (mkt_band_check(&sc->band))
      perr(p, 0,
           "[tariff]: feed_in must not exceed retail and "
           "network_fee must not be negative");
  }
  /* Household keys that only the generator uses. */
  for (size_t i = 0; i <= sc->n_specs; i++) {
    sim_home_spec *h = i < sc->n_specs ? &sc->specs[i] : &sc->defaults;
    for (int k = 0; k < SIM_HK_COUNT; k++)
      if (data && synthetic_only(k) && (h->set & (1u << k)))
        perr(p, h->line ? h->line : 1,
             "%s applies to synthetic input only (data gives the energies; "
             "use load_scale / pv_scale)",
             hkeys[k].name);
    if (data && h->count)
      perr(p, h->line, "count applies to synthetic input only");
  }
}

/* ---- Public -------------------------------------------------------------- */

int sim_scenario_parse(const char *file, const char *text, size_t len,
                       const char *const *sets, size_t n_sets,
                       sim_scenario **out, sim_diag *diag) {
  *out = NULL;
  if (len > FILE_MAX) {
    sim_diag_add(diag, "%s: larger than 1 MiB", file);
    return GL_ETOOBIG;
  }
  sim_scenario *sc = calloc(1, sizeof *sc);
  if (!sc)
    return GL_ENOMEM;
  snprintf(sc->file, sizeof sc->file, "%s", file);
  const char *slash = strrchr(file, '/');
  if (slash)
    snprintf(sc->dir, sizeof sc->dir, "%.*s", (int)(slash - file), file);
  else
    snprintf(sc->dir, sizeof sc->dir, ".");
  if (slash == file)
    snprintf(sc->dir, sizeof sc->dir, "/");
  set_defaults(sc);
  parser p;
  memset(&p, 0, sizeof p);
  p.sc = sc;
  p.diag = diag;
  p.file = file;
  parse_lines(&p, text, len);
  p.in_override = true;
  for (size_t i = 0; i < n_sets; i++)
    apply_override(&p, sets[i]);
  p.in_override = false;
  finish(&p);
  if (p.errors) {
    sim_scenario_free(sc);
    return GL_ECONFIG;
  }
  *out = sc;
  return 0;
}

int sim_scenario_load(const char *path, const char *const *sets, size_t n_sets,
                      sim_scenario **out, sim_diag *diag) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    sim_diag_add(diag, "%s: cannot open: %s", path, strerror(errno));
    return errno == ENOENT ? GL_ENOENT : GL_EIO;
  }
  char *buf = malloc(FILE_MAX + 1);
  if (!buf) {
    fclose(f);
    return GL_ENOMEM;
  }
  size_t n = fread(buf, 1, FILE_MAX + 1, f);
  bool bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    sim_diag_add(diag, "%s: read error", path);
    return GL_EIO;
  }
  int rc = sim_scenario_parse(path, buf, n, sets, n_sets, out, diag);
  free(buf);
  return rc;
}

void sim_scenario_free(sim_scenario *sc) {
  if (!sc)
    return;
  free(sc->specs);
  free(sc);
}

/* ---- Canonical text ------------------------------------------------------ */

typedef struct sbuf {
  char *p;
  size_t n, cap;
  bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (w < 0) {
      b->oom = true;
      return;
    }
    if ((size_t)w < b->cap - b->n) {
      b->n += (size_t)w;
      return;
    }
    size_t cap = (b->cap + (size_t)w) * 2;
    char *np = realloc(b->p, cap);
    if (!np) {
      b->oom = true;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
}

static const char *fmt_offset(int32_t s, char *buf, size_t cap) {
  int a = s < 0 ? -s : s;
  snprintf(buf, cap, "%c%02d:%02d", s < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  return buf;
}

static void write_home(sbuf *b, const sim_home_spec *h) {
  if (h->id[0])
    sb_printf(b, "\n[household %s]\n", h->id);
  else
    sb_printf(b, "\n[defaults]\n");
  if (h->count)
    sb_printf(b, "count = %lld\n", (long long)h->count);
  for (int k = 0; k < SIM_HK_COUNT; k++) {
    if (!(h->set & (1u << k)))
      continue;
    const struct hkey_def *d = &hkeys[k];
    if (d->kind == HV_ENUM) {
      sb_printf(b, "%s = %s\n", d->name, d->choices[h->v[k].lo]);
    } else {
      char lo[40], hi[40];
      fmt_dec(h->v[k].lo, d->scale, lo, sizeof lo);
      if (h->v[k].lo == h->v[k].hi)
        sb_printf(b, "%s = %s\n", d->name, lo);
      else
        sb_printf(b, "%s = %s..%s\n", d->name, lo,
                  fmt_dec(h->v[k].hi, d->scale, hi, sizeof hi));
    }
  }
}

int sim_scenario_format(const sim_scenario *sc, char **out) {
  sbuf b = {0};
  char t1[GL_TIME_STR_MAX], t2[GL_TIME_STR_MAX], d[40], d2[40], d3[40];
  sb_printf(&b, "# gridlet scenario (canonical form)\n[scenario]\n");
  sb_printf(&b, "name = %s\nseed = %llu\n", sc->name,
            (unsigned long long)sc->seed);
  if (sc->has_start)
    sb_printf(&b, "start = %s\n", gl_time_format(sc->start, t1));
  if (sc->has_end)
    sb_printf(&b, "end = %s\n", gl_time_format(sc->end, t2));
  sb_printf(&b, "interval = %s\ncurrency = %s\n",
            gl_duration_format(sc->interval, d, sizeof d), sc->currency);
  const sim_mechanism *m = &sc->market;
  sb_printf(&b, "\n[market]\nmode = %s\nrule = %s\nk = %s\n",
            mkt_mode_name(m->mode), mkt_rule_name(m->rule),
            fmt_dec(m->k_ppm, 6, d, sizeof d));
  sb_printf(&b, "rationing = %s\nself_trade = %s\ncompare = ",
            mkt_rationing_name(m->rationing),
            m->allow_self_trade ? "allow" : "prevent");
  for (size_t i = 0; i < sc->n_compare; i++)
    sb_printf(&b, "%s%s", i ? ", " : "", sc->compare[i].name);
  sb_printf(&b, "\n");
  if (sc->has_tariff)
    sb_printf(&b, "\n[tariff]\nretail = %s\nfeed_in = %s\nnetwork_fee = %s\n",
              fmt_dec(sc->band.retail, 6, d, sizeof d),
              fmt_dec(sc->band.feed_in, 6, d2, sizeof d2),
              fmt_dec(sc->band.fee, 6, d3, sizeof d3));
  sb_printf(&b, "\n[input]\nsource = %s\n", sim_source_name(sc->source));
  if (sc->source != SIM_SOURCE_SYNTHETIC) {
    sb_printf(&b, "path = %s\n", sc->input_path);
    if (sc->source != SIM_SOURCE_LEDGER) {
      sb_printf(&b, "step = %s\n", gl_duration_format(sc->step, d, sizeof d));
      if (sc->source == SIM_SOURCE_CSV)
        sb_printf(&b, "timestamps = %s\nunit = %s\n",
                  sc->timestamps_end ? "end" : "start",
                  sc->unit_kwh ? "kwh" : "wh");
      if (sc->has_utc_offset)
        sb_printf(&b, "utc_offset = %s\n",
                  fmt_offset(sc->utc_offset_s, d, sizeof d));
      if (sc->source == SIM_SOURCE_AUSGRID)
        sb_printf(&b, "controlled_load = %s\n",
                  sc->controlled_load ? "include" : "exclude");
      sb_printf(&b, "resample = %s\nmissing = %s\n",
                sc->resample_even ? "even" : "refuse",
                sc->missing_absent ? "absent" : "error");
    } else {
      sb_printf(&b, "verify = %s\n", sc->verify ? "true" : "false");
    }
  } else {
    sb_printf(&b, "\n[synthetic]\nlatitude = %s\n",
              fmt_dec(sc->latitude_udeg, 6, d, sizeof d));
    sb_printf(&b, "longitude = %s\nutc_offset = %s\n",
              fmt_dec(sc->longitude_udeg, 6, d, sizeof d),
              fmt_offset(sc->synth_utc_offset_s, d2, sizeof d2));
    sb_printf(&b, "cloudiness = %s\n",
              fmt_dec(sc->cloudiness_ppm, 6, d, sizeof d));
    sb_printf(&b, "performance_ratio = %s\n",
              fmt_dec(sc->performance_ratio_ppm, 6, d, sizeof d));
    sb_printf(&b, "load_noise = %s\n",
              fmt_dec(sc->load_noise_ppm, 6, d, sizeof d));
  }
  if (sc->defaults.set)
    write_home(&b, &sc->defaults);
  for (size_t i = 0; i < sc->n_specs; i++)
    write_home(&b, &sc->specs[i]);
  if (b.oom) {
    free(b.p);
    return GL_ENOMEM;
  }
  *out = b.p;
  return 0;
}

int sim_scenario_hash(const sim_scenario *sc, char hex[65]) {
  char *text;
  int rc = sim_scenario_format(sc, &text);
  if (rc)
    return rc;
  uint8_t h[GL_SHA256_LEN];
  rc = gl_sha256(text, strlen(text), h);
  free(text);
  if (rc)
    return rc;
  gl_hex_encode(h, sizeof h, hex);
  return 0;
}

/* ---- Households ---------------------------------------------------------- */

typedef struct pending {
  char id[SIM_ID_MAX + 1];
  const sim_home_spec *spec;
} pending;

static int cmp_pending(const void *a, const void *b) {
  return strcmp(((const pending *)a)->id, ((const pending *)b)->id);
}

/* The value of key k for a household of spec h (NULL: none). */
static bool spec_value(const sim_scenario *sc, const sim_home_spec *h, int k,
                       sim_range *out) {
  if (h && (h->set & (1u << k))) {
    *out = h->v[k];
    return true;
  }
  if (sc->defaults.set & (1u << k)) {
    *out = sc->defaults.v[k];
    return true;
  }
  return false;
}

static void resolve(const sim_scenario *sc, const sim_home_spec *h,
                    gl_rand *rng, sim_home *out) {
  int64_t v[SIM_HK_COUNT];
  bool given[SIM_HK_COUNT];
  for (int k = 0; k < SIM_HK_COUNT; k++) {
    /* One draw per key, used or not, so changing one key's range never
     * changes another key's values. */
    uint64_t u = 0;
    gl_rand_u64(rng, &u);
    sim_range r;
    given[k] = spec_value(sc, h, k, &r);
    if (!given[k]) {
      v[k] = 0;
      continue;
    }
    uint64_t span = (uint64_t)(r.hi - r.lo) + 1;
    v[k] = r.lo + (span ? (int64_t)(u % span) : (int64_t)u);
  }
  int64_t mid = mkt_div_round(sc->band.feed_in + sc->band.retail, 2);
  out->load_wh_year = given[SIM_HK_LOAD_KWH] ? v[SIM_HK_LOAD_KWH] : 4000000;
  out->pv_wp = v[SIM_HK_PV_KWP];
  out->load_scale_ppm =
      given[SIM_HK_LOAD_SCALE] ? v[SIM_HK_LOAD_SCALE] : SIM_PPM;
  out->pv_scale_ppm = given[SIM_HK_PV_SCALE] ? v[SIM_HK_PV_SCALE] : SIM_PPM;
  out->battery_wh = v[SIM_HK_BATTERY_KWH];
  int64_t kw =
      given[SIM_HK_BATTERY_KW] ? v[SIM_HK_BATTERY_KW] : out->battery_wh / 2;
  out->charge_w =
      given[SIM_HK_BATTERY_CHARGE_KW] ? v[SIM_HK_BATTERY_CHARGE_KW] : kw;
  out->discharge_w =
      given[SIM_HK_BATTERY_DISCHARGE_KW] ? v[SIM_HK_BATTERY_DISCHARGE_KW] : kw;
  out->efficiency_ppm =
      given[SIM_HK_BATTERY_EFFICIENCY] ? v[SIM_HK_BATTERY_EFFICIENCY] : 900000;
  out->reserve_ppm =
      given[SIM_HK_BATTERY_RESERVE] ? v[SIM_HK_BATTERY_RESERVE] : 100000;
  out->initial_ppm =
      given[SIM_HK_BATTERY_INITIAL] ? v[SIM_HK_BATTERY_INITIAL] : 500000;
  out->strategy = (sim_strategy)v[SIM_HK_STRATEGY];
  out->forecast = (sim_forecast)v[SIM_HK_FORECAST];
  out->buy_limit =
      given[SIM_HK_BUY_LIMIT] ? v[SIM_HK_BUY_LIMIT] : sc->band.retail;
  out->sell_limit =
      given[SIM_HK_SELL_LIMIT] ? v[SIM_HK_SELL_LIMIT] : sc->band.feed_in;
  out->charge_below = given[SIM_HK_CHARGE_BELOW] ? v[SIM_HK_CHARGE_BELOW] : mid;
  out->discharge_above =
      given[SIM_HK_DISCHARGE_ABOVE] ? v[SIM_HK_DISCHARGE_ABOVE] : mid;
}

/* Seed of the household-parameter stream (distinct from the weather's). */
#define HOMES_STREAM UINT64_C(0x686f6d6573000001)

int sim_scenario_homes(const sim_scenario *sc, const char *const *ids,
                       size_t n_ids, sim_home **out, size_t *n,
                       sim_diag *diag) {
  *out = NULL;
  *n = 0;
  bool synthetic = sc->source == SIM_SOURCE_SYNTHETIC;
  size_t total = 0;
  if (synthetic) {
    for (size_t i = 0; i < sc->n_specs; i++) {
      total += sc->specs[i].count ? (size_t)sc->specs[i].count : 1;
      if (total > SIM_HOMES_MAX) {
        sim_diag_add(diag, "%s: more than %d households", sc->file,
                     SIM_HOMES_MAX);
        return GL_ECONFIG;
      }
    }
  } else {
    total = n_ids;
    if (total > SIM_HOMES_MAX) {
      sim_diag_add(diag, "%s: the input has more than %d households", sc->input,
                   SIM_HOMES_MAX);
      return GL_ECONFIG;
    }
  }
  if (total == 0) {
    sim_diag_add(diag, "%s: no households (%s)", sc->file,
                 synthetic ? "add [household ID] sections"
                           : "the input holds none");
    return GL_ECONFIG;
  }
  sim_home *homes = calloc(total, sizeof *homes);
  /* Which spec each household takes its values from. */
  const sim_home_spec **from = calloc(total, sizeof *from);
  if (!homes || !from) {
    free(homes);
    free(from);
    return GL_ENOMEM;
  }
  int errors = 0;
  if (synthetic) {
    size_t k = 0;
    for (size_t i = 0; i < sc->n_specs; i++) {
      const sim_home_spec *s = &sc->specs[i];
      if (!s->count) {
        snprintf(homes[k].id, sizeof homes[k].id, "%s", s->id);
        from[k++] = s;
        continue;
      }
      int width = snprintf(NULL, 0, "%lld", (long long)s->count);
      for (int64_t c = 1; c <= s->count; c++) {
        int w = snprintf(homes[k].id, sizeof homes[k].id, "%s-%0*lld", s->id,
                         width, (long long)c);
        if (w < 0 || (size_t)w >= sizeof homes[k].id) {
          sim_diag_add(diag, "%s:%d: household ids %s-N are longer than %d",
                       sc->file, s->line, s->id, SIM_ID_MAX);
          errors++;
          break;
        }
        from[k++] = s;
      }
    }
    total = k;
    /* Sort households by id, each with the spec it came from. */
    pending *pend = malloc(total * sizeof *pend);
    if (!pend) {
      free(homes);
      free(from);
      return GL_ENOMEM;
    }
    for (size_t i = 0; i < total; i++) {
      memcpy(pend[i].id, homes[i].id, sizeof pend[i].id);
      pend[i].spec = from[i];
    }
    qsort(pend, total, sizeof *pend, cmp_pending);
    for (size_t i = 0; i < total; i++) {
      memcpy(homes[i].id, pend[i].id, sizeof homes[i].id);
      from[i] = pend[i].spec;
    }
    free(pend);
    for (size_t i = 0; i < total; i++) {
      if (i > 0 && strcmp(homes[i].id, homes[i - 1].id) == 0) {
        sim_diag_add(diag,
                     "%s: household id %s is defined twice (check "
                     "the counts of [household] sections)",
                     sc->file, homes[i].id);
        errors++;
      }
    }
  } else {
    for (size_t i = 0; i < total; i++) {
      snprintf(homes[i].id, sizeof homes[i].id, "%s", ids[i]);
      from[i] = NULL;
    }
    for (size_t s = 0; s < sc->n_specs; s++) {
      const sim_home_spec *sp = &sc->specs[s];
      size_t lo = 0, hi = total;
      while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(homes[mid].id, sp->id);
        if (c == 0) {
          lo = mid;
          break;
        }
        if (c < 0)
          lo = mid + 1;
        else
          hi = mid;
      }
      if (lo < total && strcmp(homes[lo].id, sp->id) == 0) {
        from[lo] = sp;
      } else {
        sim_diag_add(diag, "%s:%d: household %s is not in the input %s",
                     sc->file, sp->line, sp->id, sc->input);
        errors++;
      }
    }
  }
  if (errors) {
    free(homes);
    free(from);
    return GL_ECONFIG;
  }
  gl_seeded_rand *sr = gl_seeded_rand_new(sc->seed ^ HOMES_STREAM);
  if (!sr) {
    free(homes);
    free(from);
    return GL_ENOMEM;
  }
  gl_rand rng = gl_seeded_rand_rand(sr);
  for (size_t i = 0; i < total; i++)
    resolve(sc, from[i], &rng, &homes[i]);
  gl_seeded_rand_free(sr);
  free(from);
  *out = homes;
  *n = total;
  return 0;
}
