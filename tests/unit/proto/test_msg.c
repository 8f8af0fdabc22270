/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the JSON payload codec: every type round-trips, maximal
 * messages fit their limits, and each kind of bad input is rejected with
 * the right reason and a message naming the field.
 */
#include "gridlet/error.h"
#include "gridlet/proto.h"
#include "samples.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static char json[PR_PAYLOAD_MAX + 1];

/* Encode the sample of `type` into the static buffer. */
static size_t encode_sample(pr_type type) {
  pr_msg m;
  sample_msg(type, &m);
  size_t n;
  pr_diag d = {0};
  assert_int_equal(pr_msg_encode(&m, json, sizeof json - 1, &n, &d), 0);
  json[n] = '\0';
  return n;
}

/* The sample of `type` with the first `from` replaced by `to`. */
static const char *edited(pr_type type, const char *from, const char *to) {
  static char out[PR_PAYLOAD_MAX * 2];
  encode_sample(type);
  const char *at = strstr(json, from);
  if (at == NULL)
    fail_msg("\"%s\" not in %s", from, json);
  snprintf(out, sizeof out, "%.*s%s%s", (int)(at - json), json, to,
           at + strlen(from));
  return out;
}

static void expect_reject(const char *text, uint32_t allowed, pr_reason reason,
                          int err, const char *msg) {
  pr_msg m;
  pr_diag d = {0};
  int rc = pr_msg_decode(text, strlen(text), allowed, &m, &d);
  if (rc != err || d.reason != reason || strstr(d.msg, msg) == NULL)
    fail_msg("for %s\n  got %s/%s \"%s\"\n  want %s/%s \"...%s...\"", text,
             gl_err_name(rc), pr_reason_name(d.reason), d.msg, gl_err_name(err),
             pr_reason_name(reason), msg);
  assert_int_equal(m.type, PR_MSG_NONE); /* nothing half-decoded */
}

static void expect_invalid(const char *text, const char *msg) {
  pr_msg m;
  pr_diag d = {0};
  int rc = pr_msg_decode(text, strlen(text), PR_TYPES_ANY, &m, &d);
  if ((rc != GL_EPARSE && rc != GL_ERANGE) || d.reason != PR_R_INVALID ||
      strstr(d.msg, msg) == NULL)
    fail_msg("for %s\n  got %s/%s \"%s\"\n  want invalid \"...%s...\"", text,
             gl_err_name(rc), pr_reason_name(d.reason), d.msg, msg);
}

/* ---- Round trips ------------------------------------------------------- */

static void test_msg_every_type_round_trips_byte_for_byte(void **state) {
  (void)state;
  for (int t = 1; t < PR_MSG_COUNT; t++) {
    size_t n = encode_sample((pr_type)t);
    pr_msg m;
    pr_diag d = {0};
    assert_int_equal(pr_msg_decode(json, n, PR_TYPES_ANY, &m, &d), 0);
    assert_int_equal(m.type, t);
    assert_int_equal(m.version, PR_VERSION);
    char again[PR_PAYLOAD_MAX];
    size_t n2;
    assert_int_equal(pr_msg_encode(&m, again, sizeof again, &n2, &d), 0);
    assert_int_equal(n2, n);
    assert_memory_equal(again, json, n);
  }
}

static void test_msg_reading_encodes_fields_in_documented_order(void **state) {
  (void)state;
  encode_sample(PR_MSG_READING);
  assert_string_equal(
      json,
      "{\"v\":1,\"type\":\"reading\",\"sender\":\"meter-17\",\"seq\":42,"
      "\"ts\":\"2026-11-21T10:15:04Z\",\"start\":\"2026-11-21T10:00:00Z\","
      "\"end\":\"2026-11-21T10:15:00Z\",\"import_wh\":120,\"export_wh\":0,"
      "\"pv_wh\":310,\"charge_wh\":50,\"discharge_wh\":0,\"soc_bp\":6400,"
      "\"import_total_wh\":1234567,\"export_total_wh\":765432,"
      "\"flags\":[\"estimated\"]}");
}

static void test_msg_decoded_reading_has_every_value(void **state) {
  (void)state;
  size_t n = encode_sample(PR_MSG_READING);
  pr_msg m;
  assert_int_equal(
      pr_msg_decode(json, n, PR_TYPE_BIT(PR_MSG_READING), &m, NULL), 0);
  assert_string_equal(m.sender, "meter-17");
  assert_int_equal(m.seq, 42);
  assert_int_equal(m.ts, sample_time("2026-11-21T10:15:04Z"));
  assert_int_equal(m.reading.start, sample_time("2026-11-21T10:00:00Z"));
  assert_int_equal(m.reading.end, sample_time("2026-11-21T10:15:00Z"));
  assert_int_equal(m.reading.import_wh, 120);
  assert_int_equal(m.reading.pv_wh, 310);
  assert_int_equal(m.reading.charge_wh, 50);
  assert_true(m.reading.has_soc_bp);
  assert_int_equal(m.reading.soc_bp, 6400);
  assert_true(m.reading.has_import_total_wh);
  assert_int_equal(m.reading.import_total_wh, 1234567);
  assert_int_equal(m.reading.export_total_wh, 765432);
  assert_int_equal(m.reading.flags, PR_FLAG_ESTIMATED);
}

static void test_msg_optional_fields_are_omitted_and_stay_absent(void **state) {
  (void)state;
  pr_msg m;
  sample_msg(PR_MSG_READING, &m);
  m.reading.has_soc_bp = m.reading.has_import_total_wh =
      m.reading.has_export_total_wh = false;
  m.reading.flags = 0;
  size_t n;
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, NULL), 0);
  json[n] = '\0';
  assert_null(strstr(json, "soc_bp"));
  assert_null(strstr(json, "total"));
  assert_null(strstr(json, "flags"));
  pr_msg back;
  assert_int_equal(pr_msg_decode(json, n, PR_TYPES_ANY, &back, NULL), 0);
  assert_false(back.reading.has_soc_bp);
  assert_false(back.reading.has_import_total_wh);
  assert_int_equal(back.reading.flags, 0);
  /* An empty flags array is the same as no flags. */
  const char *empty =
      edited(PR_MSG_READING, "\"flags\":[\"estimated\"]", "\"flags\":[]");
  assert_int_equal(pr_msg_decode(empty, strlen(empty), 0, &back, NULL), 0);
  assert_int_equal(back.reading.flags, 0);
}

static void test_msg_decode_accepts_any_key_order_and_whitespace(void **state) {
  (void)state;
  const char *text =
      "  {\n \"seq\" : 7, \"state\":\"offline\",\t\"type\":\"status\",\r\n"
      "  \"ts\":\"2026-01-01T00:00:00Z\", \"sender\":\"m.1_a-b\", \"v\":1 }\n";
  pr_msg m;
  pr_diag d = {0};
  assert_int_equal(pr_msg_decode(text, strlen(text), 0, &m, &d), 0);
  assert_int_equal(m.type, PR_MSG_STATUS);
  assert_int_equal(m.status.state, PR_STATE_OFFLINE);
  assert_false(m.status.has_outbox);
  assert_string_equal(m.sender, "m.1_a-b");
}

static void test_msg_largest_messages_fit_their_limits(void **state) {
  (void)state;
  for (int t = 1; t < PR_MSG_COUNT; t++) {
    pr_msg m;
    sample_max_msg((pr_type)t, &m);
    size_t n;
    pr_diag d = {0};
    int rc = pr_msg_encode(&m, json, sizeof json, &n, &d);
    if (rc != 0)
      fail_msg("%s: %s", pr_type_name((pr_type)t), d.msg);
    assert_true(n <= pr_type_max_payload((pr_type)t));
    assert_true(pr_type_max_payload((pr_type)t) <= PR_PAYLOAD_MAX);
    pr_msg back;
    assert_int_equal(pr_msg_decode(json, n, 0, &back, &d), 0);
  }
}

/* ---- Structure and version --------------------------------------------- */

static void test_msg_rejects_what_is_not_a_json_object(void **state) {
  (void)state;
  expect_reject("", 0, PR_R_MALFORMED, GL_EPARSE, "invalid JSON");
  expect_reject("[1,2]", 0, PR_R_MALFORMED, GL_EPARSE, "not a JSON object");
  expect_reject("{\"v\":1", 0, PR_R_MALFORMED, GL_EPARSE, "invalid JSON");
  expect_reject("{\"v\":1} {}", 0, PR_R_MALFORMED, GL_EPARSE, "invalid JSON");
  expect_reject("{\"v\":1,\"v\":1}", 0, PR_R_MALFORMED, GL_EPARSE, "duplicate");
  expect_reject("{\"v\":1,\"type\":\"status\",\"type\":\"status\"}", 0,
                PR_R_MALFORMED, GL_EPARSE, "duplicate");
  expect_reject("{\"v\":\"\xff\"}", 0, PR_R_MALFORMED, GL_EPARSE,
                "invalid JSON");
  expect_reject("{\"v\":1,\"x\":\"a\\u0000b\"}", 0, PR_R_MALFORMED, GL_EPARSE,
                "invalid JSON");
  expect_reject("{\"v\":99999999999999999999}", 0, PR_R_MALFORMED, GL_EPARSE,
                "invalid JSON");
}

static void test_msg_rejects_other_versions_before_anything_else(void **state) {
  (void)state;
  expect_reject(edited(PR_MSG_READING, "\"v\":1", "\"v\":2"), 0,
                PR_R_WRONG_VERSION, GL_ENOTSUP,
                "v: version 2 is not supported");
  expect_reject("{\"v\":0,\"nonsense\":true}", 0, PR_R_WRONG_VERSION,
                GL_ENOTSUP, "version 0");
  expect_reject("{\"type\":\"reading\"}", 0, PR_R_INVALID, GL_EPARSE,
                "v: missing");
  expect_reject(edited(PR_MSG_READING, "\"v\":1", "\"v\":1.0"), 0, PR_R_INVALID,
                GL_EPARSE, "v: expected an integer");
}

static void test_msg_rejects_unknown_and_unexpected_types(void **state) {
  (void)state;
  expect_reject(
      edited(PR_MSG_READING, "\"type\":\"reading\"", "\"type\":\"readings\""),
      0, PR_R_INVALID, GL_EPARSE, "type: unknown message type \"readings\"");
  expect_reject(edited(PR_MSG_READING, "\"type\":\"reading\"", "\"type\":7"), 0,
                PR_R_INVALID, GL_EPARSE, "type: expected a string");
  expect_reject(edited(PR_MSG_PREFS, "prefs", "prefs"),
                PR_TYPE_BIT(PR_MSG_READING), PR_R_WRONG_TYPE, GL_EPROTO,
                "a prefs message is not accepted here");
  /* order and prefs share a topic: both accepted when both allowed */
  encode_sample(PR_MSG_PREFS);
  pr_msg m;
  assert_int_equal(
      pr_msg_decode(json, strlen(json),
                    PR_TYPE_BIT(PR_MSG_ORDER) | PR_TYPE_BIT(PR_MSG_PREFS), &m,
                    NULL),
      0);
}

static void test_msg_rejects_oversize_payload_for_its_type(void **state) {
  (void)state;
  char pad[3000];
  memset(pad, ' ', sizeof pad - 1);
  pad[sizeof pad - 1] = '\0';
  char to[3100];
  snprintf(to, sizeof to, "\"import_wh\":%s120", pad);
  expect_reject(edited(PR_MSG_READING, "\"import_wh\":120", to), 0,
                PR_R_OVERSIZE, GL_ETOOBIG, "reading payload of 3") /* 3k+ */;
  static char huge[PR_PAYLOAD_MAX + 2];
  memset(huge, ' ', sizeof huge - 1);
  huge[sizeof huge - 1] = '\0';
  expect_reject(huge, 0, PR_R_OVERSIZE, GL_ETOOBIG, "exceeds the limit");
}

/* ---- Fields ------------------------------------------------------------ */

static void test_msg_rejects_unknown_missing_and_null_fields(void **state) {
  (void)state;
  expect_invalid(edited(PR_MSG_READING, "\"pv_wh\"", "\"pv_kwh\""),
                 "pv_kwh: unknown field in reading");
  expect_invalid(edited(PR_MSG_READING, "\"pv_wh\":310,", ""),
                 "pv_wh: missing");
  expect_invalid(edited(PR_MSG_READING, "\"soc_bp\":6400", "\"soc_bp\":null"),
                 "soc_bp: null is not allowed");
  expect_invalid(
      edited(PR_MSG_RESULT, "\"fee\":3000", "\"fee\":3000,\"tip\":1"),
      "settlement.tip: unknown field in settlement");
  expect_invalid(edited(PR_MSG_RESULT, "\"fee\":3000,", ""),
                 "settlement.fee: missing");
  expect_invalid(edited(PR_MSG_READING, "\"seq\":42,", ""), "seq: missing");
  expect_invalid(edited(PR_MSG_READING, "\"sender\":\"meter-17\",", ""),
                 "sender: missing");
}

static void
test_msg_rejects_non_integers_where_integers_are_required(void **state) {
  (void)state;
  expect_invalid(
      edited(PR_MSG_READING, "\"import_wh\":120", "\"import_wh\":120.0"),
      "import_wh: expected an integer, got a real number");
  expect_invalid(
      edited(PR_MSG_READING, "\"import_wh\":120", "\"import_wh\":1.2e2"),
      "import_wh: expected an integer, got a real number");
  expect_invalid(
      edited(PR_MSG_READING, "\"import_wh\":120", "\"import_wh\":\"120\""),
      "import_wh: expected an integer, got a string");
  expect_invalid(
      edited(PR_MSG_READING, "\"import_wh\":120", "\"import_wh\":true"),
      "import_wh: expected an integer, got a boolean");
  expect_invalid(edited(PR_MSG_ORDER, "\"price\":120000", "\"price\":120000.5"),
                 "steps[1].price: expected an integer, got a real number");
  expect_invalid(
      edited(PR_MSG_RESULT, "\"entries\":[1201,", "\"entries\":[1201.0,"),
      "ledger.entries[0]: expected an integer");
}

static void
test_msg_rejects_out_of_range_values_naming_the_field(void **state) {
  (void)state;
  expect_invalid(
      edited(PR_MSG_READING, "\"import_wh\":120", "\"import_wh\":-1"),
      "import_wh: -1 is out of range [0, 1000000000]");
  expect_invalid(edited(PR_MSG_READING, "\"soc_bp\":6400", "\"soc_bp\":10001"),
                 "soc_bp: 10001 is out of range [0, 10000]");
  expect_invalid(
      edited(PR_MSG_READING, "\"seq\":42", "\"seq\":9007199254740992"),
      "seq: 9007199254740992 is out of range [1, 9007199254740991]");
  expect_invalid(edited(PR_MSG_READING, "\"seq\":42", "\"seq\":0"),
                 "seq: 0 is out of range");
  expect_invalid(edited(PR_MSG_ORDER, "\"wh\":800", "\"wh\":0"),
                 "steps[0].wh: 0 is out of range [1, 1000000000]");
  expect_invalid(
      edited(PR_MSG_PREFS, "\"buy_below\":280000", "\"buy_below\":1000000001"),
      "buy_below: 1000000001 is out of range");
  expect_invalid(edited(PR_MSG_RESULT, "\"amount\":64500", "\"amount\":-64500"),
                 "trades[0].amount: -64500 is out of range");
}

static void test_msg_accepts_only_canonical_utc_times(void **state) {
  (void)state;
  static const char *const bad[] = {
      "2026-11-21T10:00:00+00:00", "2026-11-21T10:00:00.000Z",
      "2026-11-21t10:00:00z",      "2026-11-21 10:00:00Z",
      "2026-11-21T10:00:00",       "2026-11-21T10:00Z",
      "2026-11-21T24:00:00Z",      "2026-13-01T00:00:00Z",
      "1969-12-31T23:59:59Z",      "",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char to[80];
    snprintf(to, sizeof to, "\"start\":\"%s\"", bad[i]);
    expect_invalid(
        edited(PR_MSG_READING, "\"start\":\"2026-11-21T10:00:00Z\"", to),
        "start: ");
  }
  expect_invalid(edited(PR_MSG_READING, "\"start\":\"2026-11-21T10:00:00Z\"",
                        "\"start\":1795000000"),
                 "start: expected an RFC 3339 time string, got an integer");
}

static void test_msg_rejects_bad_intervals(void **state) {
  (void)state;
  expect_invalid(edited(PR_MSG_READING, "\"end\":\"2026-11-21T10:15:00Z\"",
                        "\"end\":\"2026-11-21T10:00:00Z\""),
                 "end: must be after start");
  expect_invalid(edited(PR_MSG_ORDER, "\"end\":\"2026-11-21T10:30:00Z\"",
                        "\"end\":\"2026-11-22T10:30:00Z\""),
                 "end: interval longer than a day");
  expect_invalid(edited(PR_MSG_STATUS, "\"end\":\"2026-11-21T10:15:00Z\"",
                        "\"end\":\"2026-11-21T09:15:00Z\""),
                 "last_reading.end: must be after start");
}

static void test_msg_enums_and_flags_accept_only_their_names(void **state) {
  (void)state;
  expect_invalid(edited(PR_MSG_ORDER, "\"side\":\"buy\"", "\"side\":\"hold\""),
                 "steps[0].side: unknown value \"hold\" (expected one of: "
                 "buy, sell)");
  expect_invalid(edited(PR_MSG_ORDER, "\"side\":\"buy\"", "\"side\":\"BUY\""),
                 "unknown value \"BUY\"");
  expect_invalid(
      edited(PR_MSG_READING, "[\"estimated\"]", "[\"estimated\",\"sunny\"]"),
      "flags[1]: unknown value \"sunny\"");
  expect_invalid(edited(PR_MSG_READING, "[\"estimated\"]",
                        "[\"estimated\",\"estimated\"]"),
                 "flags[1]: flag \"estimated\" repeated");
  expect_invalid(edited(PR_MSG_READING, "[\"estimated\"]", "[1]"),
                 "flags[0]: expected a flag name, got an integer");
  expect_invalid(edited(PR_MSG_READING, "[\"estimated\"]", "\"estimated\""),
                 "flags: expected an array of flag names, got a string");
}

static void test_msg_missing_reading_must_report_zero_energy(void **state) {
  (void)state;
  expect_invalid(edited(PR_MSG_READING, "[\"estimated\"]", "[\"missing\"]"),
                 "a \"missing\" reading must report 0 Wh");
  pr_msg m;
  sample_msg(PR_MSG_READING, &m);
  m.reading = (pr_reading){.start = m.reading.start,
                           .end = m.reading.end,
                           .flags = PR_FLAG_MISSING | PR_FLAG_DEVICE_OFFLINE};
  size_t n;
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, NULL), 0);
  pr_msg back;
  assert_int_equal(pr_msg_decode(json, n, 0, &back, NULL), 0);
  assert_int_equal(back.reading.flags,
                   PR_FLAG_MISSING | PR_FLAG_DEVICE_OFFLINE);
  m.reading.has_soc_bp = true;
  pr_diag d = {0};
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, &d), GL_EINVAL);
  assert_non_null(strstr(d.msg, "soc_bp: not allowed in a \"missing\""));
}

static void test_msg_strings_are_checked_for_length_and_alphabet(void **state) {
  (void)state;
  char longid[100];
  memset(longid, 'a', 64);
  longid[64] = '\0';
  char to[120];
  snprintf(to, sizeof to, "\"sender\":\"%s\"", longid);
  expect_invalid(edited(PR_MSG_READING, "\"sender\":\"meter-17\"", to),
                 "sender: string of 64 bytes exceeds the limit of 63");
  expect_invalid(edited(PR_MSG_READING, "\"sender\":\"meter-17\"",
                        "\"sender\":\"Meter-17\""),
                 "sender: \"Meter-17\" is not a valid sender id");
  expect_invalid(
      edited(PR_MSG_RESULT, "\"meter\":\"meter-17\"", "\"meter\":\"broker\""),
      "meter: \"broker\" is not a valid meter id");
  expect_invalid(edited(PR_MSG_STATUS, "\"version\":\"0.1.0\"",
                        "\"version\":\"0.1 beta\""),
                 "version: \"0.1 beta\" is not 1 to 31 of [A-Za-z0-9._+-]");
  expect_invalid(edited(PR_MSG_CHECKPOINT, "\\n\\n", "\\n"),
                 "note: signed note must have a body, a blank line");
  expect_invalid(edited(PR_MSG_CHECKPOINT, "1234\\n", "1234\\r\\n"),
                 "note: signed note contains a control character");
}

static void test_msg_meters_and_aggregator_send_only_their_types(void **state) {
  (void)state;
  pr_msg m;
  pr_diag d = {0};
  const char *text = edited(PR_MSG_RESULT, "\"sender\":\"aggregator\"",
                            "\"sender\":\"meter-17\"");
  assert_int_equal(pr_msg_decode(text, strlen(text), 0, &m, &d), GL_EPERM);
  assert_int_equal(d.reason, PR_R_SENDER_MISMATCH);
  assert_string_equal(d.msg, "sender: a result is only sent by \"aggregator\"");
  text = edited(PR_MSG_READING, "\"sender\":\"meter-17\"",
                "\"sender\":\"aggregator\"");
  assert_int_equal(pr_msg_decode(text, strlen(text), 0, &m, &d), GL_EPERM);
  assert_string_equal(d.msg, "sender: a reading is only sent by a meter");
}

static void test_msg_proof_fields_follow_the_kind_and_status(void **state) {
  (void)state;
  expect_invalid(edited(PR_MSG_PROOF_REQUEST, "\"index\":1201,", ""),
                 "index: missing (required when kind is \"inclusion\")");
  expect_invalid(
      edited(PR_MSG_PROOF_REQUEST, "\"inclusion\"", "\"consistency\""),
      "index: only allowed when kind is \"inclusion\"");
  expect_invalid(
      edited(PR_MSG_PROOF_REQUEST, "\"index\":1201", "\"index\":1234"),
      "index: 1234 is not below size 1234");
  expect_invalid("{\"v\":1,\"type\":\"proof_request\",\"sender\":\"m1\","
                 "\"seq\":1,\"ts\":\"2026-01-01T00:00:00Z\",\"kind\":"
                 "\"consistency\",\"old_size\":9,\"size\":8}",
                 "old_size: 9 is above size 8");
  /* A failed proof carries neither path nor entry nor note. */
  expect_invalid(edited(PR_MSG_PROOF_RESPONSE, "\"status\":\"ok\"",
                        "\"status\":\"not_found\""),
                 "path: only allowed when status is \"ok\"");
  expect_invalid(edited(PR_MSG_PROOF_RESPONSE, "\"path\":[", "\"pith\":["),
                 "pith: unknown field");
  expect_invalid(
      edited(PR_MSG_PROOF_RESPONSE, "\"inclusion\"", "\"consistency\""),
      "index: only allowed when kind is \"inclusion\"");
  expect_invalid(edited(PR_MSG_PROOF_RESPONSE, "\"entry\":\"AQIDBAU=\"",
                        "\"entry\":\"AQIDBAV=\""),
                 "entry: not canonical padded base64");
  expect_invalid(
      edited(PR_MSG_PROOF_RESPONSE, "\"entry\":\"AQIDBAU=\"", "\"entry\":\"\""),
      "entry: must not be empty");
  expect_invalid(edited(PR_MSG_PROOF_RESPONSE,
                        "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"",
                        "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\""),
                 "path[0]: not the canonical base64 of a 32-byte hash");
  pr_msg m;
  sample_msg(PR_MSG_PROOF_RESPONSE, &m);
  m.proof_response.status = PR_PROOF_NOT_FOUND;
  m.proof_response.npath = 0;
  pr_diag d = {0};
  size_t n;
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, &d), GL_EINVAL);
  assert_string_equal(d.msg, "entry: only allowed when status is \"ok\"");
  m.proof_response.entry_len = 0;
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, &d), 0);
  json[n] = '\0';
  assert_null(strstr(json, "path"));
}

static void test_msg_settlement_must_add_up(void **state) {
  (void)state;
  expect_invalid(edited(PR_MSG_RESULT, "\"net\":61500", "\"net\":61501"),
                 "settlement.net: 61501 but local_revenue + grid_revenue - "
                 "local_cost - grid_cost - fee = 61500");
  expect_invalid(edited(PR_MSG_RESULT, "[1201,1230]", "[1230,1201]"),
                 "ledger.entries[1]: indices must strictly increase");
  expect_invalid(edited(PR_MSG_RESULT, "[1201,1230]", "[1201,1234]"),
                 "ledger.entries[1]: 1234 is not below size 1234");
  expect_invalid(edited(PR_MSG_SUMMARY, "\"missing\":1", "\"missing\":38"),
                 "missing: 38 is more than meters 37");
}

static void test_msg_arrays_have_limits(void **state) {
  (void)state;
  char steps[4096];
  size_t pos = (size_t)snprintf(steps, sizeof steps, "\"steps\":[");
  for (int i = 0; i < PR_MAX_STEPS + 1; i++)
    pos += (size_t)snprintf(steps + pos, sizeof steps - pos,
                            "%s{\"side\":\"buy\",\"wh\":1,\"price\":1}",
                            i ? "," : "");
  snprintf(steps + pos, sizeof steps - pos, "],\"x\":[");
  expect_invalid(edited(PR_MSG_ORDER, "\"steps\":[", steps),
                 "steps: 17 elements exceed the limit of 16");
}

/* ---- Encoder ----------------------------------------------------------- */

static void
test_msg_encoder_refuses_what_the_decoder_would_reject(void **state) {
  (void)state;
  pr_msg m;
  pr_diag d = {0};
  size_t n;
  sample_msg(PR_MSG_READING, &m);
  m.ts += 1; /* 1 ns */
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, &d), GL_EINVAL);
  assert_int_equal(d.reason, PR_R_INVALID);
  assert_string_equal(d.msg, "ts: not a whole second (1795256104000000001 ns)");

  sample_msg(PR_MSG_ORDER, &m);
  m.order.steps[1].side = PR_SIDE_NONE;
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, &d), GL_EINVAL);
  assert_string_equal(d.msg, "steps[1].side: not set to a valid value (0)");

  sample_msg(PR_MSG_PROOF_REQUEST, &m);
  m.proof_request.kind = PR_PROOF_CONSISTENCY;
  m.proof_request.old_size = 5;
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, &d), GL_EINVAL);
  assert_string_equal(d.msg, "index: only allowed when kind is \"inclusion\"");

  sample_msg(PR_MSG_CHECKPOINT, &m);
  m.checkpoint.note[3] = (char)0xc0; /* not UTF-8 */
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, &d), GL_EINVAL);
  assert_string_equal(d.msg, "note: signed note is not valid UTF-8");

  sample_msg(PR_MSG_READING, &m);
  m.reading.flags = 1u << 20;
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, &d), GL_EINVAL);
  assert_string_equal(d.msg, "flags: unknown flag bits 0x100000");

  sample_msg(PR_MSG_READING, &m);
  m.version = 2;
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, &d), GL_EINVAL);
  assert_int_equal(d.reason, PR_R_WRONG_VERSION);

  sample_msg(PR_MSG_READING, &m);
  assert_int_equal(pr_msg_encode(&m, json, 10, &n, &d), GL_ETOOBIG);
  assert_int_equal(d.reason, PR_R_OVERSIZE);
  assert_int_equal(pr_msg_validate(&m, &d), 0);
}

static void test_msg_init_checks_type_and_sender(void **state) {
  (void)state;
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_READING, "m1", 1, 0), 0);
  assert_string_equal(m.sender, "m1");
  assert_int_equal(pr_msg_init(&m, PR_MSG_COUNT, "m1", 1, 0), GL_EINVAL);
  assert_int_equal(pr_msg_init(&m, PR_MSG_READING, "broker", 1, 0), GL_EINVAL);
  assert_int_equal(pr_msg_init(&m, PR_MSG_READING, "", 1, 0), GL_EINVAL);
  assert_int_equal(m.type, PR_MSG_NONE);
}

static void test_msg_names_round_trip(void **state) {
  (void)state;
  for (int t = 1; t < PR_MSG_COUNT; t++)
    assert_int_equal(pr_type_from_name(pr_type_name((pr_type)t)), t);
  assert_null(pr_type_name(PR_MSG_NONE));
  assert_null(pr_type_name(PR_MSG_COUNT));
  assert_int_equal(pr_type_from_name("bogus"), PR_MSG_NONE);
  assert_int_equal(pr_type_from_name(NULL), PR_MSG_NONE);
  assert_string_equal(pr_flag_name(PR_FLAG_CLOCK_STEP), "clock_step");
  assert_string_equal(pr_flag_name(PR_FLAG_MISSING), "missing");
  assert_null(pr_flag_name(PR_FLAG_MISSING | PR_FLAG_ESTIMATED));
  assert_null(pr_flag_name(1u << 7));
  assert_string_equal(pr_result_flag_name(PR_RESULT_ESTIMATED), "estimated");
  assert_string_equal(pr_side_name(PR_SIDE_SELL), "sell");
  assert_string_equal(pr_mode_name(PR_MODE_CONTINUOUS), "continuous");
  assert_string_equal(pr_state_name(PR_STATE_OFFLINE), "offline");
  assert_string_equal(pr_proof_kind_name(PR_PROOF_CONSISTENCY), "consistency");
  assert_string_equal(pr_proof_status_name(PR_PROOF_UNAVAILABLE),
                      "unavailable");
  assert_null(pr_side_name((pr_side)3));
  assert_string_equal(pr_reason_name(PR_R_BAD_SIGNATURE), "bad_signature");
  assert_string_equal(pr_reason_name(PR_R_COUNT), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_msg_every_type_round_trips_byte_for_byte),
      cmocka_unit_test(test_msg_reading_encodes_fields_in_documented_order),
      cmocka_unit_test(test_msg_decoded_reading_has_every_value),
      cmocka_unit_test(test_msg_optional_fields_are_omitted_and_stay_absent),
      cmocka_unit_test(test_msg_decode_accepts_any_key_order_and_whitespace),
      cmocka_unit_test(test_msg_largest_messages_fit_their_limits),
      cmocka_unit_test(test_msg_rejects_what_is_not_a_json_object),
      cmocka_unit_test(test_msg_rejects_other_versions_before_anything_else),
      cmocka_unit_test(test_msg_rejects_unknown_and_unexpected_types),
      cmocka_unit_test(test_msg_rejects_oversize_payload_for_its_type),
      cmocka_unit_test(test_msg_rejects_unknown_missing_and_null_fields),
      cmocka_unit_test(
          test_msg_rejects_non_integers_where_integers_are_required),
      cmocka_unit_test(test_msg_rejects_out_of_range_values_naming_the_field),
      cmocka_unit_test(test_msg_accepts_only_canonical_utc_times),
      cmocka_unit_test(test_msg_rejects_bad_intervals),
      cmocka_unit_test(test_msg_enums_and_flags_accept_only_their_names),
      cmocka_unit_test(test_msg_missing_reading_must_report_zero_energy),
      cmocka_unit_test(test_msg_strings_are_checked_for_length_and_alphabet),
      cmocka_unit_test(test_msg_meters_and_aggregator_send_only_their_types),
      cmocka_unit_test(test_msg_proof_fields_follow_the_kind_and_status),
      cmocka_unit_test(test_msg_settlement_must_add_up),
      cmocka_unit_test(test_msg_arrays_have_limits),
      cmocka_unit_test(test_msg_encoder_refuses_what_the_decoder_would_reject),
      cmocka_unit_test(test_msg_init_checks_type_and_sender),
      cmocka_unit_test(test_msg_names_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
