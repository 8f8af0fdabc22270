/* SPDX-License-Identifier: MIT */
/*
 * mqtt_will_client - a helper process for test_mqtt_races: connects with a
 * last will "A", replaces it with "B" once connected, and prints a line
 * for every connection so the test can follow it. The test then restarts
 * the broker (the client reconnects with will "B") and kills this process
 * with SIGKILL, after which the broker must publish "B".
 *
 *   mqtt_will_client URI TOPIC
 */
#include "gridlet/pr_mqtt.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  pr_mqtt_config c = {.uri = argv[1],
                      .client_id = "willer",
                      .clean_start = true,
                      .reconnect_min_ms = 50,
                      .reconnect_max_ms = 200,
                      .will_topic = argv[2],
                      .will_payload = "A",
                      .will_len = 1,
                      .will_retain = true,
                      .will_qos = 1};
  pr_mqtt *m;
  if (pr_mqtt_new(&c, &m) || pr_mqtt_connect(m))
    return 1;
  for (;;) {
    pr_mqtt_event ev;
    while (pr_mqtt_next(m, &ev) == 0) {
      if (ev.type == PR_MQTT_CONNECTED) {
        if (pr_mqtt_set_will(m, argv[2], "B", 1, true, 1))
          return 1;
        printf("connected\n");
        fflush(stdout);
      }
    }
    pr_mqtt_wait(m, 100);
  }
}
