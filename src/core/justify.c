/* core/justify.c: effective reason and ticket of a change. */
#include "core/justify.h"

#include <string.h>

#include "core/text.h"

int je_justify_valid(je_text_in v, size_t max_chars, char *out, size_t cap) {
    size_t off = 0, len = 0;
    if (!v.s || je_text_check(v.s, v.len, max_chars, &off, &len) != JE_TEXT_OK) return 0;
    if (len >= cap) return 0;
    memcpy(out, v.s + off, len);
    out[len] = '\0';
    return 1;
}

static int refuse(je_err *err, int is_reason, je_text_status st, const char *where) {
    char phrase[96];
    size_t max = is_reason ? JE_REASON_MAX : JE_TICKET_MAX;
    je_text_status_phrase(st, max, phrase, sizeof phrase);
    return je_err_field(err, is_reason ? "REASON_REQUIRED" : "VALIDATION_FAILED",
                        is_reason ? "reason" : "ticket", "the %s of the %s %s",
                        is_reason ? "reason" : "ticket", where, phrase);
}

/* Checks a source that was given in the request (body or headers). 1 gives a reason, 0 gives
 * nothing, -1 refused. */
static int take_source(const je_justify_source *src, const char *where, je_justification *out,
                       je_err *err) {
    size_t off, len;
    if (src->reason.s) {
        je_text_status st =
            je_text_check(src->reason.s, src->reason.len, JE_REASON_MAX, &off, &len);
        if (st != JE_TEXT_OK) return refuse(err, 1, st, where);
        memcpy(out->reason, src->reason.s + off, len);
        out->reason[len] = '\0';
    }
    if (src->ticket.s) {
        je_text_status st =
            je_text_check(src->ticket.s, src->ticket.len, JE_TICKET_MAX, &off, &len);
        if (st != JE_TEXT_OK) return refuse(err, 0, st, where);
        if (!src->reason.s)
            return je_err_field(err, "VALIDATION_FAILED", "ticket",
                                "a ticket in the %s needs a reason beside it", where);
        memcpy(out->ticket, src->ticket.s + off, len);
        out->ticket[len] = '\0';
        out->has_ticket = 1;
    }
    return src->reason.s ? 1 : 0;
}

int je_justify(const je_justify_source sources[3], je_justification *out, je_err *err) {
    memset(out, 0, sizeof *out);
    static const char *const where[2] = {"body", "headers"};
    /* Every source the request supplied is checked, even when the body already gives the
     * reason: nothing a client sent is dropped silently. The first that gives a reason wins. */
    je_justification tmp[2];
    int first = -1;
    for (int i = 0; i < 2; i++) {
        memset(&tmp[i], 0, sizeof tmp[i]);
        int rc = take_source(&sources[i], where[i], &tmp[i], err);
        if (rc < 0) return -1;
        if (rc == 1 && first < 0) first = i;
    }
    if (first >= 0) {
        *out = tmp[first];
        out->source = first;
        return 0;
    }
    const je_justify_source *tok = &sources[2];
    if (!tok->reason.s || tok->reason.len == 0 || tok->reason.len >= sizeof out->reason)
        return je_err_field(err, "REASON_REQUIRED", "reason",
                            "a reason is required: in the body, X-StellaOps-Reason, or the "
                            "token's claims");
    memcpy(out->reason, tok->reason.s, tok->reason.len);
    if (tok->ticket.s && tok->ticket.len && tok->ticket.len < sizeof out->ticket) {
        memcpy(out->ticket, tok->ticket.s, tok->ticket.len);
        out->has_ticket = 1;
    }
    out->source = 2;
    return 0;
}
