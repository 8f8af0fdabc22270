/* SPDX-License-Identifier: MIT */
/* Interoperability: an independent Modbus implementation (Debian's
 * python3-pymodbus) serves a SunSpec register image that a Python script
 * builds on its own from the same SunSpec JSON definitions; hal must read
 * exactly the values the script says it encoded. Skips, saying why, only
 * when pymodbus is not installed. */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_link.h"
#include "gridlet/hal_sunspec.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

/* The python3 that has pymodbus: Debian's, unless GRIDLET_PYTHON says
 * otherwise (a pyenv python3 earlier in PATH would not see it). */
static const char *find_python(void) {
  static const char *const cands[] = {"/usr/bin/python3", "python3"};
  const char *env = getenv("GRIDLET_PYTHON");
  for (int i = env ? -1 : 0; i < 2; i++) {
    const char *py = i < 0 ? env : cands[i];
    char *argv[] = {(char *)py, "-c", "import pymodbus", NULL};
    pid_t pid = gt_proc_start(argv, "/dev/null", NULL);
    int st = gt_proc_wait(pid, 20000);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
      return py;
  }
  return NULL;
}

typedef struct fx {
  char dir[GT_PATH_MAX];
  pid_t server;
  cJSON *expect;
  hal_link *link;
  gl_seeded_rand *sr;
} fx;

static int setup(void **state) {
  const char *py = find_python();
  if (!py) {
    print_message("SKIP: python3-pymodbus is not installed (scripts/"
                  "install-deps.sh installs it)\n");
    *state = NULL;
    return 0;
  }
  fx *f = calloc(1, sizeof *f);
  gt_tmpdir("pymodbus", f->dir);
  char script[GT_PATH_MAX], jdir[GT_PATH_MAX], exp[GT_PATH_MAX],
      logp[GT_PATH_MAX], port[16];
  gt_source_path(script, "tests/integration/hal/sunspec_server.py");
  gt_source_path(jdir, "hal/sunspec/json");
  gt_path(exp, f->dir, "expect.json");
  gt_path(logp, f->dir, "server.log");
  uint16_t p = gt_free_port();
  snprintf(port, sizeof port, "%u", p);
  char *argv[] = {(char *)py, script,     "--port", port, "--json-dir",
                  jdir,       "--expect", exp,      NULL};
  f->server = gt_proc_start(argv, logp, NULL);
  if (!gt_wait_port(p, 20000)) {
    char *log = gt_read_file(logp, NULL);
    fail_msg("pymodbus server did not start; its log:\n%s", log ? log : "");
  }
  char *text = gt_read_file(exp, NULL);
  assert_non_null(text);
  f->expect = cJSON_Parse(text);
  free(text);
  assert_non_null(f->expect);

  hal_endpoint ep = {.kind = HAL_EP_TCP, .port = p};
  snprintf(ep.host, sizeof ep.host, "127.0.0.1");
  hal_transport t;
  assert_int_equal(hal_transport_modbus_new(&ep, &t), 0);
  f->sr = gl_seeded_rand_new(5);
  hal_link_cfg lc = {.timeout_ns = 3 * GL_NS_PER_SEC};
  f->link = hal_link_new(t, &lc, gl_clock_real(), gl_seeded_rand_rand(f->sr),
                         "pymodbus");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  if (!f)
    return 0;
  hal_link_free(f->link);
  gt_proc_stop(f->server, 5000);
  cJSON_Delete(f->expect);
  gl_seeded_rand_free(f->sr);
  gt_rmtree(f->dir);
  free(f);
  return 0;
}

static int64_t num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_true(cJSON_IsNumber(v));
  return (int64_t)v->valuedouble;
}

/* Compare one point with the script's record; returns 1 if compared. */
static int check_point(const hal_ss_model *m, const hal_ss_point *p,
                       const uint16_t *regs, size_t n, const uint16_t *g,
                       size_t gn, const cJSON *exp) {
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(exp, p->name);
  if (!e)
    return 0; /* ID, L, pads, addresses the script leaves zero */
  hal_ss_value v;
  assert_int_equal(hal_ss_decode(m, p, regs, n, g, gn, &v), 0);
  const char *kind =
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "kind"));
  if (strcmp(kind, "ni") == 0) {
    if (v.implemented)
      fail_msg("model %u %s: read a value, the device says not implemented",
               m->id, p->name);
    return 1;
  }
  if (!v.implemented)
    fail_msg("model %u %s: not implemented, the device has a value", m->id,
             p->name);
  if (strcmp(kind, "string") == 0) {
    char s[80];
    hal_ss_decode_string(p, g ? g : regs, g ? gn : n, s, sizeof s);
    assert_string_equal(
        s, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "value")));
  } else if (strcmp(kind, "float") == 0) {
    double want =
        cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "value"));
    if (v.f != want)
      fail_msg("model %u %s: %g, want %g", m->id, p->name, v.f, want);
  } else {
    int64_t raw = num(e, "raw");
    bool is_signed = p->type == HAL_SS_INT16 || p->type == HAL_SS_INT32 ||
                     p->type == HAL_SS_INT64 || p->type == HAL_SS_SUNSSF;
    if (is_signed ? v.i != raw : v.u != (uint64_t)raw)
      fail_msg("model %u %s: raw %lld, want %lld", m->id, p->name,
               (long long)(is_signed ? v.i : (int64_t)v.u), (long long)raw);
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(e, "sf");
    if (cJSON_IsNumber(sf)) {
      assert_true(v.has_sf);
      assert_int_equal(v.sf_status, 0);
      assert_int_equal(v.sf, (int)sf->valuedouble);
    }
  }
  return 1;
}

static void test_pymodbus_image_reads_exactly(void **state) {
  fx *f = *state;
  if (!f) {
    skip();
    return;
  }
  hal_ss_map map;
  assert_int_equal(hal_ss_discover(f->link, 1, &map), 0);
  assert_int_equal(map.base, num(f->expect, "base"));
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(f->expect, "models");
  assert_int_equal(map.n, cJSON_GetArraySize(models));
  int points = 0, i = 0;
  bool seen112 = false, seen212 = false;
  const cJSON *em;
  cJSON_ArrayForEach(em, models) {
    const hal_ss_model_ref *ref = &map.models[i++];
    seen112 |= ref->id == 112;
    seen212 |= ref->id == 212;
    assert_int_equal(ref->id, num(em, "id"));
    assert_int_equal(ref->addr, num(em, "addr"));
    assert_int_equal(ref->length, num(em, "length"));
    const hal_ss_model *m = ref->def;
    assert_non_null(m);
    size_t n = 2u + ref->length;
    uint16_t regs[400];
    assert_true(n <= 400);
    for (size_t got = 0; got < n;) {
      uint16_t c = (uint16_t)(n - got > 125 ? 125 : n - got);
      assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING,
                                     (uint16_t)(ref->addr + got), c, regs + got,
                                     NULL),
                       0);
      got += c;
    }
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(em, "points");
    for (uint16_t k = 0; k < m->n_points; k++)
      points += check_point(m, &m->points[k], regs, n, NULL, 0, pts);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(em, "groups");
    int g = 0;
    const cJSON *eg;
    cJSON_ArrayForEach(eg, groups) {
      const uint16_t *gr = regs + 2 + m->length + (size_t)g * m->group_length;
      for (uint16_t k = 0; k < m->n_group_points; k++)
        points += check_point(m, &m->group_points[k], regs, n, gr,
                              m->group_length, eg);
      g++;
    }
  }
  print_message("pymodbus: %d models, %d points compared\n", map.n, points);
  assert_true(points > 800);
  /* The two models gridlet's generator derives (no JSON for them), derived
   * independently by the script, are in the comparison. */
  assert_true(seen112);
  assert_true(seen212);
}

/* The meter profile picks model 203 from the chain; its counters decode as
 * the script encoded them, scaled by their scale factors. */
static void test_pymodbus_profile_poll(void **state) {
  fx *f = *state;
  if (!f) {
    skip();
    return;
  }
  char path[GT_PATH_MAX];
  hal_profile p;
  gl_conf_errors errs;
  assert_int_equal(
      hal_profile_load(gt_source_path(path, "hal/profiles/"
                                            "sunspec-meter.profile"),
                       &p, &errs),
      0);
  hal_device_cfg dc = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &dc);
  hal_sample s;
  assert_int_equal(hal_device_poll(d, &s), 0);
  const cJSON *em;
  const cJSON *pts = NULL;
  cJSON_ArrayForEach(em,
                     cJSON_GetObjectItemCaseSensitive(f->expect, "models")) {
    if (num(em, "id") == 203)
      pts = cJSON_GetObjectItemCaseSensitive(em, "points");
  }
  assert_non_null(pts);
  static const struct {
    int q;
    const char *point;
  } map[] = {{HAL_Q_GRID_IMPORT_WH, "TotWhImp"},
             {HAL_Q_GRID_EXPORT_WH, "TotWhExp"},
             {HAL_Q_GRID_POWER_W, "W"}};
  for (size_t i = 0; i < 3; i++) {
    const hal_reading *r = &s.r[map[i].q];
    assert_int_equal(r->model, 203);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(pts, map[i].point);
    if (strcmp(
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "kind")),
            "ni") == 0) {
      assert_int_equal(r->status, GL_ENOTSUP);
      continue;
    }
    int64_t want;
    assert_int_equal(hal_scale_int(num(e, "raw"), (int)num(e, "sf"),
                                   hal_qty_is_counter(map[i].q)
                                       ? HAL_ROUND_FLOOR
                                       : HAL_ROUND_NEAREST,
                                   &want),
                     0);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->value, want);
  }
  hal_device_free(d);
}

int main(void) {
  gl_log_set_level(GL_LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pymodbus_image_reads_exactly),
      cmocka_unit_test(test_pymodbus_profile_poll),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
