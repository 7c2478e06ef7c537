/* api/openapi.c: GET /.well-known/openapi (api.md §3.7): the OpenAPI 3.1 document of the whole
 * API. The document is docs/openapi.json, embedded at build time as je_openapi_doc (the build
 * generates generated/openapi_doc.c with scripts/embed_files.cmake and regenerates it when the
 * JSON changes), so the binary needs no source tree at run time. */
#include "api/routes.h"

#include <stddef.h>

extern const char je_openapi_doc[];
extern const size_t je_openapi_doc_len;

void je_api_openapi(je_req *r, je_app *app) {
    je_reply_header(r, "Cache-Control", "max-age=3600");
    je_reply_raw(r, 200, "application/json", je_openapi_doc, je_openapi_doc_len);
}
