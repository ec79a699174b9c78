/*
 * The multiplexer (see mux.h): one epoll set over many response bodies.
 *
 * Each wake-up reads every ready socket once (up to 64 KiB), de-chunks what
 * it read, decodes the messages and sorts them: a PayloadPart's payload is
 * appended to the body's parts (or, for a body whose text is made here, fed
 * to its fsmr_text); other events are dropped, as fastsmr.payload_parts
 * drops them; an exception or error message, or one whose header block the
 * Python decoder would reject, ends the body and is kept whole for the
 * caller, which turns it into the exception the single-stream readers
 * raise. Header blocks are recognised by content: a few validated blocks
 * are kept, so the usual token message costs one memcmp, not a walk of its
 * headers.
 *
 * A relayed body's events are written to its downstream socket as soon as
 * they are made, without blocking (MSG_DONTWAIT); what the socket does not
 * take waits in the body's down buffer, and the epoll set watches the
 * downstream for room (EPOLLOUT) while it is not empty. Past `limit` unsent
 * bytes the body's own socket leaves the epoll set until half of them are
 * gone. A downstream that fails or hangs up (EPOLLERR, EPOLLHUP) ends its
 * body's relay; the other bodies never wait for it. The epoll set tells the
 * two sockets of a body apart by the low bit of the pointer it carries.
 *
 * Timeouts: a body waits for its own socket (reset by every byte read), or,
 * while it is left unread for a full downstream or is being flushed, for the
 * downstream (reset by every byte it takes). Deadlines only move later, so
 * the multiplexer keeps a lower bound of the earliest one and looks at the
 * bodies only once that bound has passed.
 */
#if defined(__linux__)
#define _GNU_SOURCE /* epoll, eventfd, MSG_NOSIGNAL, clock_gettime under -std=c99 */
#endif

#include "mux.h"

#include <stdlib.h>
#include <string.h>

#if defined(__linux__)

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE 65536u
#define MAX_EVENTS 256
#define CACHE_SLOTS 4
#define CACHE_BLOCK 256u
/* The decoder's limits, as fastsmr.Decoder's defaults (botocore's). */
#define MAX_HEADERS_LENGTH (128u * 1024u)
#define MAX_PAYLOAD_LENGTH (24u * 1024u * 1024u)
#define RELAY_TAG ((uintptr_t)1)

enum { KIND_OTHER = 0, KIND_PART = 1, KIND_LOOK = 2 };

typedef struct {
    uint32_t length; /* 0: empty slot */
    int kind;
    uint8_t data[CACHE_BLOCK];
} cached_block;

struct fsmr_mux {
    int ep;
    int wake_fd;
    fsmr_mux_body **bodies;
    size_t count, capacity;
    fsmr_mux_body *ready_head, *ready_tail;
    int n_ready;
    double next_check; /* no deadline is earlier (HUGE_VAL: none) */
    cached_block cache[CACHE_SLOTS];
    unsigned next_slot;
    fsmr_header *names; /* walk_kind's scratch */
    size_t names_cap;
    uint8_t rbuf[READ_SIZE];
    uint8_t cbuf[READ_SIZE];
    struct epoll_event events[MAX_EVENTS];
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int would_block(int error)
{
#if EAGAIN != EWOULDBLOCK
    if (error == EWOULDBLOCK) return 1;
#endif
    return error == EAGAIN || error == EINTR;
}

static int equals(const uint8_t *p, size_t n, const char *text)
{
    size_t t = strlen(text);
    return n == t && memcmp(p, text, t) == 0;
}

static int compare_names(const void *a, const void *b)
{
    const fsmr_header *x = (const fsmr_header *)a, *y = (const fsmr_header *)b;
    size_t n = x->name_length < y->name_length ? x->name_length : y->name_length;
    int c = n ? memcmp(x->name, y->name, n) : 0;
    return c ? c : (int)x->name_length - (int)y->name_length;
}

/* What a header block makes of its message, as the Python decoder and
   fastsmr.payload_parts would see it: KIND_LOOK where the decoder raises
   (a malformed header, invalid UTF-8, a duplicate name) or for an exception
   or error message. */
static int walk_kind(fsmr_mux *m, const uint8_t *block, uint32_t length)
{
    size_t count = 0;
    int message_look = 0, part = 0;
    uint32_t pos = 0;
    fsmr_header h;
    fsmr_error err;
    while (pos < length) {
        if (fsmr_next_header(block, length, &pos, &h, &err) != FSMR_OK) return KIND_LOOK;
        if (!fsmr_utf8_valid(h.name, h.name_length)) return KIND_LOOK;
        if (count == m->names_cap) {
            size_t cap = m->names_cap ? m->names_cap * 2 : 32;
            fsmr_header *p = (fsmr_header *)realloc(m->names, cap * sizeof(fsmr_header));
            if (!p) return KIND_LOOK; /* the Python decoder then says what it makes of the block */
            m->names = p;
            m->names_cap = cap;
        }
        m->names[count++] = h;
        if (h.type == FSMR_TYPE_STRING) {
            if (!fsmr_utf8_valid(h.value, h.value_length)) return KIND_LOOK;
            if (equals(h.name, h.name_length, ":message-type")) {
                message_look = equals(h.value, h.value_length, "exception") || equals(h.value, h.value_length, "error");
            } else if (equals(h.name, h.name_length, ":event-type")) {
                part = equals(h.value, h.value_length, "PayloadPart");
            }
        } else if (equals(h.name, h.name_length, ":message-type")) {
            message_look = 0;
        } else if (equals(h.name, h.name_length, ":event-type")) {
            part = 0;
        }
    }
    if (count > 1) {
        qsort(m->names, count, sizeof(fsmr_header), compare_names);
        for (size_t i = 1; i < count; i++) {
            if (compare_names(&m->names[i - 1], &m->names[i]) == 0) return KIND_LOOK;
        }
    }
    if (message_look) return KIND_LOOK;
    return part ? KIND_PART : KIND_OTHER;
}

static int header_kind(fsmr_mux *m, const uint8_t *block, uint32_t length)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cached_block *c = &m->cache[i];
        if (c->length == length && length && memcmp(c->data, block, length) == 0) return c->kind;
    }
    int kind = walk_kind(m, block, length);
    if (kind != KIND_LOOK && length && length <= CACHE_BLOCK) {
        cached_block *c = &m->cache[m->next_slot];
        m->next_slot = (m->next_slot + 1) % CACHE_SLOTS;
        c->length = length;
        c->kind = kind;
        memcpy(c->data, block, length);
    }
    return kind;
}

static void make_ready(fsmr_mux *m, fsmr_mux_body *b)
{
    if (b->ready) return;
    b->ready = 1;
    b->next_ready = NULL;
    if (m->ready_tail) {
        m->ready_tail->next_ready = b;
    } else {
        m->ready_head = b;
    }
    m->ready_tail = b;
    m->n_ready++;
}

static void set_deadline(fsmr_mux *m, fsmr_mux_body *b, double now)
{
    if (b->timeout < 0) return;
    b->deadline = now + b->timeout;
    if (b->deadline < m->next_check) m->next_check = b->deadline;
}

static size_t unsent(const fsmr_mux_body *b) { return b->down.len - b->down_sent; }

/* What the body waits for: its own socket (1), its downstream (2) or nothing (0). */
static int waiting_for(const fsmr_mux_body *b)
{
    if (b->relay_fd >= 0 && b->relay_end == FSMR_RELAY_OPEN && unsent(b) && (b->full || b->flushing)) return 2;
    if (b->end == FSMR_MUX_OPEN && !b->held && !b->full) return 1;
    return 0;
}

/* Put the epoll set in line with the body's state: fd watched while it may
   be read, relay_fd watched for room while bytes wait for it. */
static void update_watch(fsmr_mux *m, fsmr_mux_body *b)
{
    int read = b->end == FSMR_MUX_OPEN && !b->held && !b->full;
    if (read != b->watched) {
        if (read) {
            struct epoll_event ev;
            memset(&ev, 0, sizeof ev);
            ev.events = EPOLLIN;
            ev.data.ptr = b;
            if (epoll_ctl(m->ep, EPOLL_CTL_ADD, b->fd, &ev) == 0) b->watched = 1;
        } else {
            epoll_ctl(m->ep, EPOLL_CTL_DEL, b->fd, NULL);
            b->watched = 0;
        }
    }
    if (b->relay_fd >= 0 && b->relay_end == FSMR_RELAY_OPEN) {
        uint32_t want = unsent(b) ? (uint32_t)EPOLLOUT : 0u;
        if (want != b->relay_events) {
            struct epoll_event ev;
            memset(&ev, 0, sizeof ev);
            ev.events = want;
            ev.data.ptr = (void *)((uintptr_t)b | RELAY_TAG);
            epoll_ctl(m->ep, EPOLL_CTL_MOD, b->relay_fd, &ev);
            b->relay_events = want;
        }
    }
}

static void end_body(fsmr_mux *m, fsmr_mux_body *b, int end);

static void end_relay(fsmr_mux *m, fsmr_mux_body *b, int end, int error)
{
    if (b->relay_end != FSMR_RELAY_OPEN) return;
    b->relay_end = end;
    b->relay_errno = error;
    epoll_ctl(m->ep, EPOLL_CTL_DEL, b->relay_fd, NULL);
    b->relay_events = 0;
    fsmr_bytes_free(&b->down);
    b->down_sent = 0;
    if (b->end == FSMR_MUX_OPEN) end_body(m, b, FSMR_MUX_STOPPED); /* the stream is over */
    make_ready(m, b);
}

/* Write what waits for the downstream, as much as it takes now. */
static void relay_write(fsmr_mux *m, fsmr_mux_body *b)
{
    int before = waiting_for(b), progress = 0;
    while (unsent(b)) {
        ssize_t n = send(b->relay_fd, b->down.data + b->down_sent, unsent(b), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (would_block(errno)) break;
            end_relay(m, b, FSMR_RELAY_ERROR, errno);
            return;
        }
        b->down_sent += (size_t)n;
        progress = 1;
    }
    if (!unsent(b)) {
        b->down.len = b->down_sent = 0;
    } else if (b->down_sent >= 65536 && b->down_sent >= unsent(b)) {
        memmove(b->down.data, b->down.data + b->down_sent, unsent(b));
        b->down.len = unsent(b);
        b->down_sent = 0;
    }
    if (b->full && unsent(b) <= b->limit / 2) b->full = 0;
    if (!b->full && unsent(b) > b->limit) b->full = 1;
    int after = waiting_for(b);
    if ((after == 2 && (progress || before != 2)) || (after == 1 && before != 1)) set_deadline(m, b, now_seconds());
    update_watch(m, b);
    if (b->flushing && !unsent(b)) end_relay(m, b, FSMR_RELAY_FLUSHED, 0);
}

/* Bytes were added for the downstream: send them now, unless it is known to
   have no room (then EPOLLOUT says when it has). */
static void relay_queued(fsmr_mux *m, fsmr_mux_body *b)
{
    if (b->relay_fd < 0 || b->relay_end != FSMR_RELAY_OPEN || !unsent(b)) return;
    if (!b->relay_events) {
        relay_write(m, b);
    } else if (!b->full && unsent(b) > b->limit) {
        b->full = 1;
        set_deadline(m, b, now_seconds());
        update_watch(m, b);
    }
}

static void end_body(fsmr_mux *m, fsmr_mux_body *b, int end)
{
    if (b->end != FSMR_MUX_OPEN) return;
    b->end = end;
    update_watch(m, b);
    if (end == FSMR_MUX_STOPPED) return;
    if (b->has_text && b->handover == FSMR_HANDOVER_NONE && (end == FSMR_MUX_END || end == FSMR_MUX_END_UNUSED)) {
        int r = fsmr_text_finish(&b->text, b->relay_fd >= 0 ? &b->down : &b->events);
        if (r == FSMR_TEXT_HANDOVER) b->handover = FSMR_HANDOVER_DUE;
    }
    make_ready(m, b);
}

static int add_part(fsmr_mux_body *b, const uint8_t *data, size_t len)
{
    fsmr_bytes out = {b->out, b->out_len, b->out_cap};
    if (fsmr_bytes_reserve(&out, b->out_len + len) < 0) return -1;
    b->out = out.data;
    b->out_cap = out.cap;
    if (b->n_parts == b->parts_cap) {
        size_t cap = b->parts_cap ? b->parts_cap * 2 : 16;
        size_t *p = (size_t *)realloc(b->ends, cap * sizeof(size_t));
        if (!p) return -1;
        b->ends = p;
        b->parts_cap = cap;
    }
    if (len) memcpy(b->out + b->out_len, data, len);
    b->out_len += len;
    b->ends[b->n_parts++] = b->out_len;
    return 0;
}

/* A PayloadPart's payload: a part for the caller, or text made here. */
static int take_payload(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len)
{
    if (!b->has_text || b->handover != FSMR_HANDOVER_NONE) {
        if (add_part(b, data, len) < 0) return -1;
        make_ready(m, b);
        return 0;
    }
    int r = fsmr_text_feed(&b->text, data, len, b->relay_fd >= 0 ? &b->down : &b->events);
    if (r == FSMR_TEXT_NO_MEMORY) return -1;
    if (r == FSMR_TEXT_HANDOVER) {
        b->handover = FSMR_HANDOVER_DUE;
        make_ready(m, b);
    } else if (b->events.len) {
        make_ready(m, b);
    }
    return 0;
}

static uint8_t *copy_of(const uint8_t *data, size_t len)
{
    uint8_t *p = (uint8_t *)malloc(len ? len : 1);
    if (p && len) memcpy(p, data, len);
    return p;
}

/* Decode data[0:len] (de-chunked body bytes); 0, or -1 once the body ended. */
static int decode(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len)
{
    for (;;) {
        size_t used = 0;
        fsmr_message msg;
        fsmr_status status = fsmr_decoder_next(&b->decoder, data, len, &used, &msg, &b->err);
        data += used;
        len -= used;
        if (status == FSMR_NEED_INPUT) return 0;
        if (status == FSMR_ERROR) {
            end_body(m, b, b->err.code == FSMR_ERR_NO_MEMORY ? FSMR_MUX_NO_MEMORY : FSMR_MUX_DECODE_ERROR);
            return -1;
        }
        if (status == FSMR_PAYLOAD_BUFFER) {
            fsmr_bytes payload = {b->payload, 0, b->payload_cap};
            if (fsmr_bytes_reserve(&payload, msg.payload_length) < 0) {
                end_body(m, b, FSMR_MUX_NO_MEMORY);
                return -1;
            }
            b->payload = payload.data;
            b->payload_cap = payload.cap;
            b->decoder.payload_dst = b->payload;
            continue;
        }
        int kind = header_kind(m, msg.headers, msg.headers_length);
        if (kind == KIND_PART) {
            if (take_payload(m, b, msg.payload, msg.payload_length) < 0) {
                end_body(m, b, FSMR_MUX_NO_MEMORY);
                return -1;
            }
        } else if (kind == KIND_LOOK) {
            b->msg_headers = copy_of(msg.headers, msg.headers_length);
            b->msg_payload = copy_of(msg.payload, msg.payload_length);
            if (!b->msg_headers || !b->msg_payload) {
                end_body(m, b, FSMR_MUX_NO_MEMORY);
                return -1;
            }
            b->msg_headers_length = msg.headers_length;
            b->msg_payload_length = msg.payload_length;
            b->msg_prelude_crc = msg.prelude_crc;
            b->msg_crc = msg.crc;
            b->msg_total_length = msg.total_length;
            b->msg_offset = msg.offset;
            end_body(m, b, FSMR_MUX_MESSAGE);
            return -1;
        }
    }
}

/* Body bytes as they came off the socket. */
static void feed(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len)
{
    set_deadline(m, b, now_seconds());
    while (len && b->end == FSMR_MUX_OPEN) {
        size_t piece = len < READ_SIZE ? len : READ_SIZE;
        size_t written = 0, consumed = 0;
        fsmr_error err;
        fsmr_chunked_status status = fsmr_chunked_decode(&b->chunked, data, piece, m->cbuf, &written, &consumed, &err);
        if (written && decode(m, b, m->cbuf, written) < 0) break;
        if (status == FSMR_CHUNKED_ERROR) {
            b->err = err;
            end_body(m, b, FSMR_MUX_CHUNKED_ERROR);
            break;
        }
        if (status == FSMR_CHUNKED_END) {
            if (b->decoder.have) {
                b->truncated_have = b->decoder.have;
                b->truncated_offset = b->decoder.offset;
                end_body(m, b, FSMR_MUX_TRUNCATED);
            } else {
                end_body(m, b, consumed < len ? FSMR_MUX_END_UNUSED : FSMR_MUX_END);
            }
            break;
        }
        data += consumed;
        len -= consumed;
    }
    relay_queued(m, b);
}

static void read_body(fsmr_mux *m, fsmr_mux_body *b)
{
    ssize_t n = recv(b->fd, m->rbuf, READ_SIZE, MSG_DONTWAIT);
    if (n < 0) {
        if (would_block(errno)) return;
        b->os_error = errno;
        end_body(m, b, FSMR_MUX_OS_ERROR);
        return;
    }
    if (n == 0) {
        fsmr_error err;
        if (fsmr_chunked_finish(&b->chunked, &err) != FSMR_OK) {
            b->err = err;
            end_body(m, b, FSMR_MUX_CHUNKED_ERROR);
        } else if (b->decoder.have) { /* the body is over (a trailer cut short) */
            b->truncated_have = b->decoder.have;
            b->truncated_offset = b->decoder.offset;
            end_body(m, b, FSMR_MUX_TRUNCATED);
        } else {
            end_body(m, b, FSMR_MUX_END_UNUSED); /* the connection is closed: not reusable */
        }
        return;
    }
    feed(m, b, m->rbuf, (size_t)n);
}

/* A downstream event: room (EPOLLOUT), or an error or hang-up. */
static void relay_ready(fsmr_mux *m, fsmr_mux_body *b, uint32_t events)
{
    if (b->relay_end != FSMR_RELAY_OPEN) return;
    if (unsent(b)) relay_write(m, b); /* a failed socket says why when written to */
    if (b->relay_end == FSMR_RELAY_OPEN && (events & (EPOLLERR | EPOLLHUP))) {
        int error = 0;
        socklen_t size = sizeof error;
        if (getsockopt(b->relay_fd, SOL_SOCKET, SO_ERROR, &error, &size) < 0 || error == 0) error = EPIPE;
        end_relay(m, b, FSMR_RELAY_ERROR, error);
    }
}

/* End the bodies whose deadline has passed; recompute next_check. */
static void expire(fsmr_mux *m, double now)
{
    double next = HUGE_VAL;
    for (size_t i = 0; i < m->count; i++) {
        fsmr_mux_body *b = m->bodies[i];
        if (b->timeout < 0) continue;
        int waiting = waiting_for(b);
        if (!waiting) continue;
        if (now >= b->deadline) {
            if (waiting == 2) {
                end_relay(m, b, FSMR_RELAY_TIMEOUT, 0);
            } else {
                end_body(m, b, FSMR_MUX_TIMEOUT);
            }
        } else if (b->deadline < next) {
            next = b->deadline;
        }
    }
    m->next_check = next;
}

fsmr_mux *fsmr_mux_new(void)
{
    fsmr_mux *m = (fsmr_mux *)calloc(1, sizeof(fsmr_mux));
    if (!m) return NULL;
    m->next_check = HUGE_VAL;
    m->ep = epoll_create1(EPOLL_CLOEXEC);
    m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->ep < 0 || m->wake_fd < 0) {
        int saved = errno;
        if (m->ep >= 0) close(m->ep);
        if (m->wake_fd >= 0) close(m->wake_fd);
        free(m);
        errno = saved;
        return NULL;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    if (epoll_ctl(m->ep, EPOLL_CTL_ADD, m->wake_fd, &ev) < 0) {
        int saved = errno;
        close(m->ep);
        close(m->wake_fd);
        free(m);
        errno = saved;
        return NULL;
    }
    return m;
}

static void free_body(fsmr_mux_body *b)
{
    fsmr_decoder_free(&b->decoder);
    if (b->has_text) fsmr_text_free(&b->text);
    fsmr_bytes_free(&b->events);
    fsmr_bytes_free(&b->down);
    free(b->out);
    free(b->ends);
    free(b->payload);
    free(b->msg_headers);
    free(b->msg_payload);
    free(b);
}

void fsmr_mux_free(fsmr_mux *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->count; i++) free_body(m->bodies[i]);
    free(m->bodies);
    free(m->names);
    close(m->ep);
    close(m->wake_fd);
    free(m);
}

int fsmr_mux_fileno(const fsmr_mux *m) { return m->ep; }

size_t fsmr_mux_count(const fsmr_mux *m) { return m->count; }

fsmr_mux_body *fsmr_mux_add(fsmr_mux *m, int fd, double timeout, int text, int relay_fd, size_t limit)
{
    if (m->count == m->capacity) {
        size_t cap = m->capacity ? m->capacity * 2 : 64;
        fsmr_mux_body **p = (fsmr_mux_body **)realloc(m->bodies, cap * sizeof(*p));
        if (!p) return NULL;
        m->bodies = p;
        m->capacity = cap;
    }
    fsmr_mux_body *b = (fsmr_mux_body *)calloc(1, sizeof(fsmr_mux_body));
    if (!b) return NULL;
    b->fd = fd;
    b->timeout = timeout;
    b->relay_fd = -1;
    b->limit = limit;
    fsmr_chunked_init(&b->chunked);
    fsmr_decoder_init(&b->decoder, MAX_HEADERS_LENGTH, MAX_PAYLOAD_LENGTH);
    if (text >= 0) {
        b->has_text = 1;
        fsmr_text_init(&b->text, text);
    }
    if (relay_fd >= 0) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = 0; /* errors and hang-ups only, until bytes wait for it */
        ev.data.ptr = (void *)((uintptr_t)b | RELAY_TAG);
        if (epoll_ctl(m->ep, EPOLL_CTL_ADD, relay_fd, &ev) < 0) {
            int saved = errno;
            free_body(b);
            errno = saved;
            return NULL;
        }
        b->relay_fd = relay_fd;
    }
    update_watch(m, b);
    if (!b->watched) {
        int saved = errno;
        if (b->relay_fd >= 0) epoll_ctl(m->ep, EPOLL_CTL_DEL, b->relay_fd, NULL);
        free_body(b);
        errno = saved;
        return NULL;
    }
    set_deadline(m, b, now_seconds());
    b->slot = m->count;
    m->bodies[m->count++] = b;
    return b;
}

void fsmr_mux_feed(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len)
{
    if (len) feed(m, b, data, len);
}

void fsmr_mux_remove(fsmr_mux *m, fsmr_mux_body *b)
{
    if (b->watched) epoll_ctl(m->ep, EPOLL_CTL_DEL, b->fd, NULL);
    if (b->relay_fd >= 0 && b->relay_end == FSMR_RELAY_OPEN) epoll_ctl(m->ep, EPOLL_CTL_DEL, b->relay_fd, NULL);
    if (b->ready) { /* off the ready list */
        fsmr_mux_body **link = &m->ready_head, *prev = NULL;
        while (*link && *link != b) {
            prev = *link;
            link = &(*link)->next_ready;
        }
        if (*link) {
            *link = b->next_ready;
            if (m->ready_tail == b) m->ready_tail = prev;
            m->n_ready--;
        }
    }
    size_t slot = b->slot;
    m->bodies[slot] = m->bodies[--m->count];
    m->bodies[slot]->slot = slot;
    free_body(b);
}

int fsmr_mux_send(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len)
{
    if (b->relay_fd < 0 || b->relay_end != FSMR_RELAY_OPEN || !len) return 0;
    if (fsmr_bytes_append(&b->down, data, len) < 0) return -1;
    relay_queued(m, b);
    return 0;
}

void fsmr_mux_flush(fsmr_mux *m, fsmr_mux_body *b)
{
    if (b->end == FSMR_MUX_OPEN) end_body(m, b, FSMR_MUX_STOPPED);
    if (b->relay_fd < 0 || b->relay_end != FSMR_RELAY_OPEN || b->flushing) return;
    b->flushing = 1;
    if (!unsent(b)) {
        end_relay(m, b, FSMR_RELAY_FLUSHED, 0);
        return;
    }
    set_deadline(m, b, now_seconds());
    relay_write(m, b);
}

void fsmr_mux_hold(fsmr_mux *m, fsmr_mux_body *b, int held)
{
    held = held != 0;
    if (held == b->held) return;
    b->held = held;
    if (!held) set_deadline(m, b, now_seconds());
    update_watch(m, b);
}

int fsmr_mux_wake(fsmr_mux *m)
{
    uint64_t one = 1;
    return write(m->wake_fd, &one, sizeof one) == (ssize_t)sizeof one || errno == EAGAIN ? 0 : -1;
}

double fsmr_mux_timeout(const fsmr_mux *m)
{
    if (m->next_check == HUGE_VAL) return -1;
    double left = m->next_check - now_seconds();
    return left > 0 ? left : 0;
}

int fsmr_mux_poll(fsmr_mux *m, double timeout)
{
    double until = timeout >= 0 ? now_seconds() + timeout : -1;
    for (;;) {
        if (m->n_ready) return m->n_ready;
        double now = now_seconds();
        if (now >= m->next_check) {
            expire(m, now);
            if (m->n_ready) return m->n_ready;
        }
        double wait = until >= 0 ? until - now : -1;
        if (until >= 0 && wait < 0) wait = 0;
        if (m->next_check != HUGE_VAL && (wait < 0 || m->next_check - now < wait)) wait = m->next_check - now;
        double rounded = ceil(wait * 1000.0);
        int ms = wait < 0 ? -1 : rounded >= (double)INT_MAX ? INT_MAX : (int)rounded; /* a timeout of weeks waits in steps */
        int n = epoll_wait(m->ep, m->events, MAX_EVENTS, ms);
        if (n < 0) {
            if (errno == EINTR) return 0; /* the caller checks for signals */
            return -1;
        }
        int woken = 0;
        for (int i = 0; i < n; i++) {
            uintptr_t tagged = (uintptr_t)m->events[i].data.ptr;
            fsmr_mux_body *b = (fsmr_mux_body *)(tagged & ~RELAY_TAG);
            if (!b) {
                uint64_t count;
                while (read(m->wake_fd, &count, sizeof count) > 0) {
                }
                woken = 1;
            } else if (tagged & RELAY_TAG) {
                relay_ready(m, b, m->events[i].events);
            } else if (b->watched) {
                read_body(m, b);
            }
        }
        if (m->n_ready) return m->n_ready;
        if (woken || (until >= 0 && now_seconds() >= until)) {
            now = now_seconds();
            if (now >= m->next_check) expire(m, now);
            return m->n_ready;
        }
    }
}

fsmr_mux_body *fsmr_mux_next_ready(fsmr_mux *m)
{
    fsmr_mux_body *b = m->ready_head;
    if (!b) return NULL;
    m->ready_head = b->next_ready;
    if (!m->ready_head) m->ready_tail = NULL;
    b->ready = 0;
    b->next_ready = NULL;
    m->n_ready--;
    return b;
}

void fsmr_mux_taken(fsmr_mux_body *b)
{
    b->out_len = 0;
    b->n_parts = 0;
    b->events.len = 0;
}

#else /* not Linux: no epoll */

#include <errno.h>

fsmr_mux *fsmr_mux_new(void)
{
    errno = ENOSYS;
    return NULL;
}
void fsmr_mux_free(fsmr_mux *m) { (void)m; }
int fsmr_mux_fileno(const fsmr_mux *m) { (void)m; return -1; }
size_t fsmr_mux_count(const fsmr_mux *m) { (void)m; return 0; }
fsmr_mux_body *fsmr_mux_add(fsmr_mux *m, int fd, double timeout, int text, int relay_fd, size_t limit)
{
    (void)m; (void)fd; (void)timeout; (void)text; (void)relay_fd; (void)limit;
    errno = ENOSYS;
    return NULL;
}
void fsmr_mux_feed(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len) { (void)m; (void)b; (void)data; (void)len; }
void fsmr_mux_remove(fsmr_mux *m, fsmr_mux_body *b) { (void)m; (void)b; }
int fsmr_mux_send(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len) { (void)m; (void)b; (void)data; (void)len; return -1; }
void fsmr_mux_flush(fsmr_mux *m, fsmr_mux_body *b) { (void)m; (void)b; }
void fsmr_mux_hold(fsmr_mux *m, fsmr_mux_body *b, int held) { (void)m; (void)b; (void)held; }
int fsmr_mux_wake(fsmr_mux *m) { (void)m; return -1; }
int fsmr_mux_poll(fsmr_mux *m, double timeout) { (void)m; (void)timeout; errno = ENOSYS; return -1; }
fsmr_mux_body *fsmr_mux_next_ready(fsmr_mux *m) { (void)m; return NULL; }
void fsmr_mux_taken(fsmr_mux_body *b) { (void)b; }
double fsmr_mux_timeout(const fsmr_mux *m) { (void)m; return -1; }
#endif
