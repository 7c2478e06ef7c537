/* base/notify.h: systemd's service notification protocol (sd_notify(3)), without libsystemd:
 * one datagram to the AF_UNIX socket named by NOTIFY_SOCKET (a path, or '@' for the abstract
 * namespace). Used by `serve` for Type=notify: READY=1 once listening, RELOADING=1 and READY=1
 * around a reload, STOPPING=1 on a stop signal. */
#ifndef JE_BASE_NOTIFY_H
#define JE_BASE_NOTIFY_H

/* Sends state ("READY=1", "STATUS=...", lines joined by '\n'). 1 when sent, 0 when there is no
 * NOTIFY_SOCKET (not under systemd), -1 when it could not be sent. */
int je_notify(const char *state);

#endif
