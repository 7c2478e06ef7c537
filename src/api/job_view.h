/* api/job_view.h: the JSON forms of a job (api.md §3.4). */
#ifndef JE_API_JOB_VIEW_H
#define JE_API_JOB_VIEW_H

#include "core/buf.h"
#include "core/jobs.h"

/* The job resource, appended to out as JSON text. */
void je_job_text(je_buf *out, const je_job *j);
/* What a worker receives for a leased job, appended to out as JSON text. */
void je_job_leased_text(je_buf *out, const je_job *j);

#endif
