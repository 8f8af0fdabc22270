/* SPDX-License-Identifier: MIT */
/*
 * gridlet/proto.h - the whole wire-protocol library in one include.
 *
 *   pr_ident.h  community names and identities
 *   pr_diag.h   rejection reasons and messages
 *   pr_topic.h  the MQTT topic tree
 *   pr_msg.h    message structs and their JSON payloads
 *   pr_cose.h   COSE_Sign1 / EdDSA envelopes
 *   pr_seal.h   seal (struct -> signed bytes) and open (bytes -> struct)
 *
 * docs/protocol.md is the specification for other implementations.
 */
#ifndef GRIDLET_PROTO_H
#define GRIDLET_PROTO_H

#include "gridlet/pr_cose.h"
#include "gridlet/pr_diag.h"
#include "gridlet/pr_ident.h"
#include "gridlet/pr_msg.h"
#include "gridlet/pr_seal.h"
#include "gridlet/pr_topic.h"
#include "gridlet/pr_mqtt.h"

#endif /* GRIDLET_PROTO_H */
