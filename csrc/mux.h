/*
 * fastsmr multiplexer: many HTTP/1.1 response bodies (chunked transfer
 * coding carrying an event stream) read from one epoll set. Plain C, no
 * Python: a poll waits, reads every ready socket, takes the chunks apart,
 * decodes the messages and keeps the payloads of PayloadPart events per
 * body, so that the caller is woken once per batch of ready bodies.
 *
 * A body may instead have its text made here (text.h: the events of the
 * model's text, as Server-Sent Events), kept for the caller or written to a
 * downstream socket (relay) without waking the caller at all. A relay's
 * unsent bytes are bounded: past the limit the body's socket is not read
 * until the downstream has taken half of them, so one slow downstream holds
 * back its own stream only.
 *
 * Linux only (epoll, eventfd); elsewhere fsmr_mux_new fails with ENOSYS and
 * callers use the pure-Python twin.
 */
#ifndef FSMR_MUX_H
#define FSMR_MUX_H

#include "fastsmr.h"
#include "text.h"

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
    FSMR_MUX_NO_MEMORY = 9,
    FSMR_MUX_STOPPED = 10       /* not read any more: the relay failed, or the caller flushed it
                                   early (never reported) */
} fsmr_mux_end;

typedef enum {
    FSMR_RELAY_OPEN = 0,
    FSMR_RELAY_FLUSHED = 1,     /* flushed: the downstream took every byte */
    FSMR_RELAY_ERROR = 2,       /* a write failed, or the downstream hung up: relay_errno */
    FSMR_RELAY_TIMEOUT = 3      /* the downstream took nothing for timeout seconds */
} fsmr_relay_end;

/* A body's text is handed over (fsmr_mux_body.handover) */
enum { FSMR_HANDOVER_NONE = 0, FSMR_HANDOVER_DUE = 1, FSMR_HANDOVER_DONE = 2 };

typedef struct fsmr_mux_body {
    int fd;
    int end;                    /* fsmr_mux_end: the body's */
    int end_reported;
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
    /* text made here (has_text): its events go to events, or to down when
       relayed; once the text is handed over (handover DUE: text.pending
       etc. say what to; DONE: the caller has it) the parts go to the caller */
    int has_text;
    fsmr_text text;
    int handover;
    fsmr_bytes events;
    /* relay: relay_fd >= 0 */
    int relay_fd;
    int relay_end;              /* fsmr_relay_end */
    int relay_errno;
    fsmr_bytes down;            /* down.data[down_sent:down.len] wait for the downstream */
    size_t down_sent;
    size_t limit;
    int flushing;               /* the caller sends nothing more: end when down is empty */
    /* internal */
    double timeout, deadline;   /* seconds; timeout < 0: none */
    fsmr_chunked chunked;
    fsmr_decoder decoder;
    uint8_t *payload;           /* for a payload assembled across reads */
    size_t payload_cap;
    int watched;                /* fd is in the epoll set */
    int held;                   /* the caller asked that fd not be read (fsmr_mux_hold) */
    int full;                   /* more than limit bytes wait for the downstream */
    uint32_t relay_events;      /* what the epoll set watches on relay_fd */
    int ready;
    size_t slot;
    struct fsmr_mux_body *next_ready;
} fsmr_mux_body;

typedef struct fsmr_mux fsmr_mux;

/* A new multiplexer; NULL with errno set on failure (ENOSYS off Linux). */
fsmr_mux *fsmr_mux_new(void);
/* Frees the multiplexer and every body; closes no descriptor. */
void fsmr_mux_free(fsmr_mux *m);
/* The epoll descriptor: readable when a poll may find something. */
int fsmr_mux_fileno(const fsmr_mux *m);
size_t fsmr_mux_count(const fsmr_mux *m);

/* Watch fd (a socket whose response head was read); timeout in seconds, < 0
   for none. text: an fsmr_text_format to make the text here, -1 to give the
   parts. relay_fd: a connected socket to write the text's events to (needs
   text or fsmr_mux_send), -1 for none; limit: the most unsent bytes before
   fd is left unread. NULL with errno set on failure (EEXIST: fd or relay_fd
   is watched already). The body's address names it to the caller until
   fsmr_mux_remove or fsmr_mux_free. */
fsmr_mux_body *fsmr_mux_add(fsmr_mux *m, int fd, double timeout, int text, int relay_fd, size_t limit);
/* Body bytes that were read before the body was added (with the head). */
void fsmr_mux_feed(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len);
/* Stop watching b and free it (its descriptors stay open). */
void fsmr_mux_remove(fsmr_mux *m, fsmr_mux_body *b);
/* More bytes for b's downstream (0, or -1 when memory runs out). */
int fsmr_mux_send(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len);
/* b's downstream gets nothing more: stop reading fd if it is still read, and
   end the relay once the downstream has taken every byte. */
void fsmr_mux_flush(fsmr_mux *m, fsmr_mux_body *b);
/* Leave fd unread (held != 0) or read it again. */
void fsmr_mux_hold(fsmr_mux *m, fsmr_mux_body *b, int held);
/* Make a poll in progress in another thread return (thread-safe). */
int fsmr_mux_wake(fsmr_mux *m);
/* Wait up to timeout seconds (< 0: until something happens or a wake) for
   bodies with something to report; returns how many are ready, or -1 with
   errno set if epoll failed. */
int fsmr_mux_poll(fsmr_mux *m, double timeout);
/* The next ready body, taken off the ready list; NULL when none is left. */
fsmr_mux_body *fsmr_mux_next_ready(fsmr_mux *m);
/* The caller has taken b's parts and events. */
void fsmr_mux_taken(fsmr_mux_body *b);
/* Seconds until a body's timeout may run out; < 0 if none has one. */
double fsmr_mux_timeout(const fsmr_mux *m);

#ifdef __cplusplus
}
#endif

#endif
