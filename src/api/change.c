/* api/change.c: justification, If-Match, Idempotency-Key and refusals for change routes. */
#include "api/change.h"

#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/quota_view.h"
#include "auth/principal.h"

const je_change_kind je_change_quota = {"quota.change.denied", "quota", JE_CLAIM_QUOTA_REASON};
const je_change_kind je_change_backfill = {"backfill.rejected", "backfill",
                                           JE_CLAIM_BACKFILL_REASON};

static je_text_in text_in(const char *s) {
    return (je_text_in){s, s ? strlen(s) : 0};
}

static je_text_in body_text(const json_t *body, const char *name) {
    const json_t *v = json_object_get(body, name);
    if (!json_is_string(v)) return (je_text_in){NULL, 0};
    return (je_text_in){json_string_value(v), json_string_length(v)};
}

int je_change_justify(je_req *r, const json_t *body, const je_change_kind *k, je_justification *j,
                      je_err *err) {
    int reason_claim = k->reason_claim;
    static const char *const fields[] = {"reason", "ticket"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(body, fields[i]);
        if (v && !json_is_null(v) && !json_is_string(v))
            return je_err_field(err, "VALIDATION_FAILED", fields[i], "%s must be a string",
                                fields[i]);
    }
    const je_principal *p = r->principal;
    je_justify_source src[3] = {
        {body_text(body, "reason"), body_text(body, "ticket")},
        {text_in(je_req_header(r, "X-StellaOps-Reason")),
         text_in(je_req_header(r, "X-StellaOps-Ticket"))},
        {text_in(p->claims[reason_claim]), text_in(p->claims[reason_claim + 1])},
    };
    return je_justify(src, j, err);
}

/* "As sent when valid": reason and ticket together from the first source that holds a reason
 * (else the first that holds a ticket) — body, headers, token — each kept only when it passes
 * the rules; an invalid value gives null, never a value from a later source. A body member that
 * is not a string holds no reason (docs/api.md; tests/api/test_quotas.py pins it). */
void je_change_sent_justification(je_req *r, const json_t *body, const je_change_kind *k,
                                  je_justification *j) {
    int reason_claim = k->reason_claim;
    memset(j, 0, sizeof *j);
    je_text_in reasons[3] = {body_text(body, "reason"),
                             text_in(je_req_header(r, "X-StellaOps-Reason")),
                             text_in(r->principal->claims[reason_claim])};
    je_text_in tickets[3] = {body_text(body, "ticket"),
                             text_in(je_req_header(r, "X-StellaOps-Ticket")),
                             text_in(r->principal->claims[reason_claim + 1])};
    int src = -1;
    for (int i = 0; i < 3 && src < 0; i++)
        if (reasons[i].s) src = i;
    for (int i = 0; i < 3 && src < 0; i++)
        if (tickets[i].s) src = i;
    if (src < 0) return;
    if (!je_justify_valid(reasons[src], JE_REASON_MAX, j->reason, sizeof j->reason))
        j->reason[0] = '\0';
    j->has_ticket = je_justify_valid(tickets[src], JE_TICKET_MAX, j->ticket, sizeof j->ticket);
}

int je_change_if_match(je_req *r, int64_t *out, je_err *err) {
    const char *h = je_req_header(r, "If-Match");
    *out = JE_IF_MATCH_NONE;
    if (!h) return 0;
    if (strcmp(h, "*") == 0) return *out = JE_IF_MATCH_ANY, 0;
    const char *p = h;
    size_t n = strlen(h);
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') p++, n -= 2;
    char buf[24];
    /* a version is at most 2^53 - 1 (16 digits): a longer value is malformed, not clamped */
    if (n == 0 || n > 16 || strspn(p, "0123456789") < n)
        return je_err_field(err, "VALIDATION_FAILED", "If-Match",
                            "If-Match must be \"<version>\" or *");
    memcpy(buf, p, n);
    buf[n] = '\0';
    *out = strtoll(buf, NULL, 10);
    if (*out > JE_MAX_INT53)
        return je_err_field(err, "VALIDATION_FAILED", "If-Match",
                            "If-Match must be \"<version>\" or *");
    return 0;
}

int je_change_idem(je_req *r, const json_t *body, je_idem *idem, je_err *err) {
    memset(idem, 0, sizeof *idem);
    const char *k = je_req_header(r, "Idempotency-Key");
    if (!k) return 0;
    size_t n = strlen(k);
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e) n = 0;
    if (n == 0 || n > 255)
        return je_err_field(err, "VALIDATION_FAILED", "Idempotency-Key",
                            "Idempotency-Key must be 1-255 printable ASCII characters");
    idem->key = k;
    idem->method = r->method;
    idem->path = r->path;
    je_body_hash(body, idem->request_hash);
    return 0;
}

json_t *je_change_refusal_entry(je_req *r, const je_change_kind *k, const json_t *body,
                                const je_justification *just, const je_err *e, const json_t *extra,
                                const char *resource_id, int64_t now_ms) {
    je_justification sent;
    if (just && just->reason[0])
        sent = *just;
    else
        je_change_sent_justification(r, body, k, &sent);
    json_t *d = json_pack("{s:s, s:s}", "code", e->code, "message", e->message);
    if (e->field[0]) json_object_set_new(d, "field", json_string(e->field));
    if (extra) {
        json_t *a = je_audit_value(extra); /* reals as decimal strings (domain.md §6) */
        json_object_update(d, a);
        json_decref(a);
    }
    if (body) json_object_set_new(d, "request", je_audit_value(body));
    json_object_set_new(d, "token", je_token_details(r->principal, k->reason_claim));
    json_object_set_new(d, "before", json_null());
    json_object_set_new(d, "after", json_null());
    return je_caller_entry(r->principal, k->refused_event, k->resource_type, resource_id,
                           sent.reason, sent.has_ticket ? sent.ticket : NULL, now_ms, d);
}

void je_change_refuse(je_req *r, je_app *app, const je_change_kind *k, const json_t *body,
                      const je_justification *just, const je_err *e, const json_t *extra,
                      const char *resource_id, json_t *reply_details) {
    json_t *entry = je_change_refusal_entry(r, k, body, just, e, extra, resource_id, je_now_ms());
    je_err aerr;
    int rc = entry ? app->store->ops->audit_append(app->store, entry, &aerr) : JE_STORE_ERROR;
    json_decref(entry);
    if (rc != JE_STORE_OK) {
        json_decref(reply_details);
        return je_reply_error(r, 503, "STORE_UNAVAILABLE", "the refusal could not be audited",
                              NULL);
    }
    je_api_reply_err(r, e, reply_details);
}

int je_change_reply_common(je_req *r, int rc, je_idem *idem, const je_err *err) {
    if (rc < 0) return je_api_reply_err(r, err, NULL), 1; /* STORE: 503 STORE_UNAVAILABLE */
    if (idem->mismatch) {
        je_reply_error(r, 409, "IDEMPOTENCY_KEY_REUSED",
                       "this Idempotency-Key was used with another body", NULL);
        return 1;
    }
    if (!idem->replayed) return 0;
    je_reply_raw(r, idem->status, "application/json", idem->body, strlen(idem->body));
    free(idem->body);
    idem->body = NULL;
    return 1;
}
