/* http/deadline.h: the request deadline. A connection must deliver a whole request (line,
 * headers and body) within a set time of opening, or of the reply to its previous request; one
 * that does not is closed by a sweeper thread. libmicrohttpd's own timeout is an idle timeout,
 * reset by every byte, so a client sending a header byte a second (slowloris) would hold its
 * connection forever without this. Internal to http/. */
#ifndef JE_HTTP_DEADLINE_H
#define JE_HTTP_DEADLINE_H

#include <stdint.h>

typedef struct je_deadlines je_deadlines;
typedef struct je_conn_clock je_conn_clock;

/* Starts the sweeper; timeout_s of 0 means no deadline (NULL is returned, and every function
 * below accepts NULL). */
je_deadlines *je_deadlines_start(unsigned timeout_s);
void je_deadlines_stop(je_deadlines *d);
/* Connections closed by the sweeper so far. */
uint64_t je_deadlines_closed(const je_deadlines *d);

/* A connection opened on fd (its clock runs from now) and closed (before its fd is). */
je_conn_clock *je_deadline_open(je_deadlines *d, int fd);
void je_deadline_close(je_deadlines *d, je_conn_clock *c);
/* The request is wholly read: no deadline while it is answered. */
void je_deadline_received(je_conn_clock *c);
/* Its reply is done: the next request must arrive within the timeout from now. */
void je_deadline_replied(je_deadlines *d, je_conn_clock *c);

#endif
