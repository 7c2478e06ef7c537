/* api/change.c: justification, If-Match and Idempotency-Key for change routes. */
#include "api/change.h"

#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "auth/principal.h"

static je_text_in text_in(const char *s) {
    return (je_text_in){s, s ? strlen(s) : 0};
}

static je_text_in body_text(const json_t *body, const char *name) {
    const json_t *v = json_object_get(body, name);
    if (!json_is_string(v)) return (je_text_in){NULL, 0};
    return (je_text_in){json_string_value(v), json_string_length(v)};
}

int je_change_justify(je_req *r, const json_t *body, int reason_claim, je_justification *j,
                      je_err *err) {
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
 * the rules; an invalid value gives null, never a value from a later source. */
void je_change_sent_justification(je_req *r, const json_t *body, int reason_claim,
                                  je_justification *j) {
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
    if (n == 0 || n >= sizeof buf || strspn(p, "0123456789") < n)
        return je_err_field(err, "VALIDATION_FAILED", "If-Match",
                            "If-Match must be \"<version>\" or *");
    memcpy(buf, p, n);
    buf[n] = '\0';
    *out = strtoll(buf, NULL, 10);
    return 0;
}

int je_change_version_matches(int64_t if_match, int64_t version) {
    return if_match == JE_IF_MATCH_NONE || if_match == JE_IF_MATCH_ANY || if_match == version;
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
