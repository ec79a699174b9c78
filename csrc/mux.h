/*
 * fastsmr multiplexer: many HTTP/1.1 response bodies (chunked transfer
 * coding carrying an event stream) read from one epoll set. Plain C, no
 * Python: a poll waits, reads every ready socket, takes the chunks apart,
 * decodes the messages and keeps the payloads of PayloadPart events per
 * body, so that the caller is woken once per batch of ready bodies.
 *
 * Linux only (epoll, eventfd); elsewhere fsmr_mux_new fails with ENOSYS and
 * callers use the pure-Python twin.
 */
#ifndef FSMR_MUX_H
#define FSMR_MUX_H

#include "fastsmr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FSMR_MUX_OPEN = 0,
    FSMR_MUX_END = 1,           /* the last chunk was read and nothing followed */
    FSMR_MUX_END_UNUSED = 2,    /* the last chunk was read and bytes followed it */
    FSMR_MUX_MESSAGE = 3,       /* a message the caller must look at (msg_*): an exception or error
                                   message, or one whose header block is not valid */
    FSMR_MUX_DECODE_ERROR = 4,  /* err: the event-stream framing */
    FSMR_MUX_CHUNKED_ERROR = 5, /* err: the chunked transfer coding */
    FSMR_MUX_TRUNCATED = 6,     /* the body ended inside a message: truncated_have bytes of the
                                   message at truncated_offset */
    FSMR_MUX_OS_ERROR = 7,      /* a read failed: os_error is its errno */
    FSMR_MUX_TIMEOUT = 8,       /* nothing arrived for timeout seconds */
    FSMR_MUX_NO_MEMORY = 9
} fsmr_mux_end;

typedef struct fsmr_mux_body {
    int fd;
    int end;                    /* fsmr_mux_end */
    fsmr_error err;
    int os_error;
    uint64_t truncated_have, truncated_offset;
    /* parts read since the caller last took them: back to back in out, the
       end offset of each in ends */
    uint8_t *out;
    size_t out_len, out_cap;
    size_t *ends;
    size_t n_parts, parts_cap;
    /* FSMR_MUX_MESSAGE: the message (owned copies) */
    uint8_t *msg_headers, *msg_payload;
    uint32_t msg_headers_length, msg_payload_length;
    uint32_t msg_prelude_crc, msg_crc, msg_total_length;
    uint64_t msg_offset;
    /* internal */
    double timeout, deadline;   /* seconds; timeout < 0: none */
    fsmr_chunked chunked;
    fsmr_decoder decoder;
    uint8_t *payload;           /* for a payload assembled across reads */
    size_t payload_cap;
    int ready;
    size_t slot;
    struct fsmr_mux_body *next_ready;
} fsmr_mux_body;

typedef struct fsmr_mux fsmr_mux;

/* A new multiplexer; NULL with errno set on failure (ENOSYS off Linux). */
fsmr_mux *fsmr_mux_new(void);
/* Frees the multiplexer and every body; closes no body's descriptor. */
void fsmr_mux_free(fsmr_mux *m);
/* The epoll descriptor: readable when a poll may find something. */
int fsmr_mux_fileno(const fsmr_mux *m);
size_t fsmr_mux_count(const fsmr_mux *m);

/* Watch fd (a non-blocking socket whose response head was read); timeout in
   seconds, < 0 for none. NULL with errno set on failure. */
fsmr_mux_body *fsmr_mux_add(fsmr_mux *m, int fd, double timeout);
/* Body bytes that were read before the body was added (with the head). */
void fsmr_mux_feed(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len);
/* Stop watching b and free it (its descriptor stays open). */
void fsmr_mux_remove(fsmr_mux *m, fsmr_mux_body *b);
/* Make a poll in progress in another thread return (thread-safe). */
int fsmr_mux_wake(fsmr_mux *m);
/* Wait up to timeout seconds (< 0: until something happens or a wake) for
   bodies with parts or an end; returns how many are ready, or -1 with errno
   set if epoll failed. Ended bodies are no longer watched. */
int fsmr_mux_poll(fsmr_mux *m, double timeout);
/* The next ready body, taken off the ready list; NULL when none is left. */
fsmr_mux_body *fsmr_mux_next_ready(fsmr_mux *m);
/* The caller has taken b's parts. */
void fsmr_mux_taken(fsmr_mux_body *b);
/* Seconds until the first body's timeout runs out; < 0 if none has one. */
double fsmr_mux_timeout(const fsmr_mux *m);

/* 1 if data[0:len] is valid UTF-8 (as Python's strict decoder takes it). */
int fsmr_utf8_valid(const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif
