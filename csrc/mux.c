/*
 * The multiplexer (see mux.h): one epoll set over many response bodies.
 *
 * Each wake-up reads every ready socket once (up to 64 KiB), de-chunks what
 * it read, decodes the messages and sorts them: a PayloadPart's payload is
 * appended to the body's parts; other events are dropped, as
 * fastsmr.payload_parts drops them; an exception or error message, or one
 * whose header block the Python decoder would reject, ends the body and is
 * kept whole for the caller, which turns it into the exception the
 * single-stream readers raise. Header blocks are recognised by content: a
 * few validated blocks are kept, so the usual token message costs one
 * memcmp, not a walk of its headers.
 */
#include "mux.h"

#include <stdlib.h>
#include <string.h>

int fsmr_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return 0;
        }
        if (n - i <= need) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        }
        i += need + 1;
    }
    return 1;
}

#if defined(__linux__)

#include <errno.h>
#include <math.h>
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

static void end_body(fsmr_mux *m, fsmr_mux_body *b, int end)
{
    if (b->end != FSMR_MUX_OPEN) return;
    b->end = end;
    epoll_ctl(m->ep, EPOLL_CTL_DEL, b->fd, NULL);
    make_ready(m, b);
}

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t grown = *cap ? *cap : 4096;
    while (grown < need) grown *= 2;
    uint8_t *p = (uint8_t *)realloc(*buf, grown);
    if (!p) return -1;
    *buf = p;
    *cap = grown;
    return 0;
}

static int add_part(fsmr_mux_body *b, const uint8_t *data, size_t len)
{
    if (reserve(&b->out, &b->out_cap, b->out_len + len) < 0) return -1;
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
            if (reserve(&b->payload, &b->payload_cap, msg.payload_length) < 0) {
                end_body(m, b, FSMR_MUX_NO_MEMORY);
                return -1;
            }
            b->decoder.payload_dst = b->payload;
            continue;
        }
        int kind = header_kind(m, msg.headers, msg.headers_length);
        if (kind == KIND_PART) {
            if (add_part(b, msg.payload, msg.payload_length) < 0) {
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
    if (b->timeout >= 0) b->deadline = now_seconds() + b->timeout;
    while (len && b->end == FSMR_MUX_OPEN) {
        size_t piece = len < READ_SIZE ? len : READ_SIZE;
        size_t written = 0, consumed = 0;
        fsmr_error err;
        fsmr_chunked_status status = fsmr_chunked_decode(&b->chunked, data, piece, m->cbuf, &written, &consumed, &err);
        if (written && decode(m, b, m->cbuf, written) < 0) return;
        if (status == FSMR_CHUNKED_ERROR) {
            b->err = err;
            end_body(m, b, FSMR_MUX_CHUNKED_ERROR);
            return;
        }
        if (status == FSMR_CHUNKED_END) {
            if (b->decoder.have) {
                b->truncated_have = b->decoder.have;
                b->truncated_offset = b->decoder.offset;
                end_body(m, b, FSMR_MUX_TRUNCATED);
            } else {
                end_body(m, b, consumed < len ? FSMR_MUX_END_UNUSED : FSMR_MUX_END);
            }
            return;
        }
        data += consumed;
        len -= consumed;
    }
    if (b->n_parts) make_ready(m, b);
}

static void read_body(fsmr_mux *m, fsmr_mux_body *b)
{
    ssize_t n = recv(b->fd, m->rbuf, READ_SIZE, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
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

static void expire(fsmr_mux *m)
{
    double now = -1;
    for (size_t i = 0; i < m->count; i++) {
        fsmr_mux_body *b = m->bodies[i];
        if (b->end != FSMR_MUX_OPEN || b->timeout < 0) continue;
        if (now < 0) now = now_seconds();
        if (now >= b->deadline) end_body(m, b, FSMR_MUX_TIMEOUT);
    }
}

fsmr_mux *fsmr_mux_new(void)
{
    fsmr_mux *m = (fsmr_mux *)calloc(1, sizeof(fsmr_mux));
    if (!m) return NULL;
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

fsmr_mux_body *fsmr_mux_add(fsmr_mux *m, int fd, double timeout)
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
    b->deadline = timeout >= 0 ? now_seconds() + timeout : 0;
    fsmr_chunked_init(&b->chunked);
    fsmr_decoder_init(&b->decoder, MAX_HEADERS_LENGTH, MAX_PAYLOAD_LENGTH);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = b;
    if (epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int saved = errno;
        free_body(b);
        errno = saved;
        return NULL;
    }
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
    if (b->end == FSMR_MUX_OPEN) epoll_ctl(m->ep, EPOLL_CTL_DEL, b->fd, NULL);
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

int fsmr_mux_wake(fsmr_mux *m)
{
    uint64_t one = 1;
    return write(m->wake_fd, &one, sizeof one) == (ssize_t)sizeof one || errno == EAGAIN ? 0 : -1;
}

double fsmr_mux_timeout(const fsmr_mux *m)
{
    double first = -1;
    for (size_t i = 0; i < m->count; i++) {
        const fsmr_mux_body *b = m->bodies[i];
        if (b->end == FSMR_MUX_OPEN && b->timeout >= 0 && (first < 0 || b->deadline < first)) first = b->deadline;
    }
    if (first < 0) return -1;
    first -= now_seconds();
    return first > 0 ? first : 0;
}

int fsmr_mux_poll(fsmr_mux *m, double timeout)
{
    double until = timeout >= 0 ? now_seconds() + timeout : -1;
    for (;;) {
        if (m->n_ready) return m->n_ready;
        double wait = until >= 0 ? until - now_seconds() : -1;
        if (until >= 0 && wait < 0) wait = 0;
        double first = fsmr_mux_timeout(m);
        if (first >= 0 && (wait < 0 || first < wait)) wait = first;
        if (m->count == 0 && wait < 0) return 0; /* nothing could ever arrive */
        int ms = wait < 0 ? -1 : (int)ceil(wait * 1000.0);
        int n = epoll_wait(m->ep, m->events, MAX_EVENTS, ms);
        if (n < 0) {
            if (errno == EINTR) return 0; /* the caller checks for signals */
            return -1;
        }
        int woken = 0;
        for (int i = 0; i < n; i++) {
            fsmr_mux_body *b = (fsmr_mux_body *)m->events[i].data.ptr;
            if (!b) {
                uint64_t count;
                while (read(m->wake_fd, &count, sizeof count) > 0) {
                }
                woken = 1;
            } else if (b->end == FSMR_MUX_OPEN) {
                read_body(m, b);
            }
        }
        expire(m);
        if (m->n_ready) return m->n_ready;
        if (woken || (until >= 0 && now_seconds() >= until)) return 0;
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
fsmr_mux_body *fsmr_mux_add(fsmr_mux *m, int fd, double timeout)
{
    (void)m; (void)fd; (void)timeout;
    errno = ENOSYS;
    return NULL;
}
void fsmr_mux_feed(fsmr_mux *m, fsmr_mux_body *b, const uint8_t *data, size_t len) { (void)m; (void)b; (void)data; (void)len; }
void fsmr_mux_remove(fsmr_mux *m, fsmr_mux_body *b) { (void)m; (void)b; }
int fsmr_mux_wake(fsmr_mux *m) { (void)m; return -1; }
int fsmr_mux_poll(fsmr_mux *m, double timeout) { (void)m; (void)timeout; errno = ENOSYS; return -1; }
fsmr_mux_body *fsmr_mux_next_ready(fsmr_mux *m) { (void)m; return NULL; }
void fsmr_mux_taken(fsmr_mux_body *b) { (void)b; }
double fsmr_mux_timeout(const fsmr_mux *m) { (void)m; return -1; }
#endif
