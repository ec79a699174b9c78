/*
 * One receive from a socket (see body.h).
 */
#include "body.h"

#include <errno.h>

#if defined(_WIN32)

fsmr_body_status fsmr_body_recv(int fd, uint8_t *buf, size_t *received, int *os_error)
{
    (void)fd, (void)buf;
    *received = 0;
    *os_error = ENOSYS;
    return FSMR_BODY_OS_ERROR;
}

#else

#include <sys/socket.h>
#include <sys/types.h>

fsmr_body_status fsmr_body_recv(int fd, uint8_t *buf, size_t *received, int *os_error)
{
    ssize_t got = recv(fd, buf, FSMR_BODY_READ, 0);
    *received = got > 0 ? (size_t)got : 0;
    if (got > 0) {
        return FSMR_BODY_DATA;
    }
    if (got == 0) {
        return FSMR_BODY_CLOSED;
    }
    *os_error = errno;
    return *os_error == EAGAIN || *os_error == EWOULDBLOCK ? FSMR_BODY_TIMEOUT : FSMR_BODY_OS_ERROR;
}

#endif
