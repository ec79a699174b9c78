/*
 * One receive from a socket, with the outcome sorted for a caller that then
 * takes the chunked transfer coding off what arrived (fsmr_chunked_decode)
 * and decodes it, all in one release of its lock (Python's GIL) per arrival.
 * The wait is bounded by the socket's own receive timeout (SO_RCVTIMEO, set
 * by the caller on a blocking socket), not by a poll before each receive.
 *
 * POSIX sockets; elsewhere fsmr_body_recv fails with ENOSYS and callers read
 * the body another way.
 */
#ifndef FSMR_BODY_H
#define FSMR_BODY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most one receive takes (urllib3 reads up to this much too). */
#define FSMR_BODY_READ 65536u

typedef enum {
    FSMR_BODY_DATA = 0,    /* *received (> 0) bytes arrived */
    FSMR_BODY_CLOSED = 1,  /* the peer ended the connection */
    FSMR_BODY_TIMEOUT = 2, /* the socket's receive timeout ran out */
    FSMR_BODY_OS_ERROR = 3 /* the receive failed: *os_error is its errno (EINTR: a signal came) */
} fsmr_body_status;

/* Receive up to FSMR_BODY_READ bytes from fd into buf. */
fsmr_body_status fsmr_body_recv(int fd, uint8_t *buf, size_t *received, int *os_error);

#ifdef __cplusplus
}
#endif

#endif
