/*
 * fastsmr text: the text of an LLM container's output, as Server-Sent
 * Events, for the usual shapes of the formats fastsmr.text_stream reads.
 * Plain C99, no Python.
 *
 * It is a fast path, not a second implementation: it handles the bytes
 * whose text it can give with certainty (token events and lines whose JSON
 * is plain, the stream's own framing, valid UTF-8) and stops at anything
 * else -- an error object, an unusual field, [DONE], invalid UTF-8, JSON
 * that Python's parser might read differently -- handing the rest of the
 * stream over at a boundary where a fresh Python TextDecoder can go on
 * with identical results (texts, exception class and message). The
 * handover point is always the start of an event or line (or of a part, for
 * raw text), and `base` says its stream offset, so that error offsets stay
 * right.
 *
 * Each text becomes the event `data: {"text":"..."}` followed by a blank
 * line, the text escaped exactly as Python's json.dumps(ensure_ascii=False)
 * escapes it.
 */
#ifndef FSMR_TEXT_H
#define FSMR_TEXT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A growable byte buffer. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} fsmr_bytes;

/* 0, or -1 (the buffer unchanged) when memory runs out. */
int fsmr_bytes_reserve(fsmr_bytes *b, size_t need);
int fsmr_bytes_append(fsmr_bytes *b, const void *data, size_t len);
void fsmr_bytes_free(fsmr_bytes *b);

/* 1 if data[0:len] is valid UTF-8 (as Python's strict decoder takes it). */
int fsmr_utf8_valid(const uint8_t *data, size_t len);

typedef enum {
    FSMR_TEXT_AUTO = 0,
    FSMR_TEXT_TGI = 1,      /* SSE, token objects */
    FSMR_TEXT_LMI = 2,      /* JSON lines, token objects */
    FSMR_TEXT_OPENAI = 3,   /* SSE, OpenAI-compatible chunks */
    FSMR_TEXT_RAW = 4       /* UTF-8 */
} fsmr_text_format;

typedef enum {
    FSMR_FRAMING_UNKNOWN = 0, /* auto, still deciding */
    FSMR_FRAMING_SSE = 1,
    FSMR_FRAMING_JSONL = 2,
    FSMR_FRAMING_TEXT = 3
} fsmr_text_framing;

typedef enum {
    FSMR_TEXT_OK = 0,
    FSMR_TEXT_HANDOVER = 1,  /* stopped: see fsmr_text */
    FSMR_TEXT_NO_MEMORY = -1
} fsmr_text_status;

/* The most an event or line may hold (and, before the first text, the most
   the stream may hold) for the fast path; longer ones are handed over. */
#define FSMR_TEXT_MAX_PENDING (1u << 20)
#define FSMR_TEXT_MAX_HELD_PARTS 16

typedef struct {
    int format;           /* fsmr_text_format */
    int framing;          /* fsmr_text_framing */
    int emitted;          /* a text was given: pending starts at the current event or line */
    int stopped;          /* handed over (or out of memory): feed no more */
    /* After FSMR_TEXT_HANDOVER: pending.data[0:pending.len] are the stream's
       bytes from offset base on, which the Python decoder takes first, in
       n_pieces parts of the lengths in pieces (n_pieces 0: one part). Before
       the first text, base is 0 and pending holds the whole stream. */
    fsmr_bytes pending;
    uint64_t base;
    size_t pieces[FSMR_TEXT_MAX_HELD_PARTS + 1];
    int n_pieces;         /* auto, while deciding: the parts received so far */
    /* framed formats: where the current event or line starts in pending, the
       first byte not yet split into lines, and the current event's data value
       (data_len == SIZE_MAX: none) and whether its type is "error" */
    size_t block, scan;
    size_t data_at, data_len;
    int event_error;
    /* raw text: the bytes of a character cut by the part's end */
    uint8_t held[4];
    size_t held_len;
} fsmr_text;

void fsmr_text_init(fsmr_text *t, int format);
void fsmr_text_free(fsmr_text *t);

/* The next part of the output: appends the events of its texts to out.
   FSMR_TEXT_OK, FSMR_TEXT_HANDOVER (t->pending and t->base say where the
   Python decoder takes over; the part is in pending) or
   FSMR_TEXT_NO_MEMORY. */
int fsmr_text_feed(fsmr_text *t, const uint8_t *data, size_t len, fsmr_bytes *out);

/* The end of the output: FSMR_TEXT_OK when nothing is pending, else
   FSMR_TEXT_HANDOVER (the Python decoder reads pending, then closes). */
int fsmr_text_finish(fsmr_text *t, fsmr_bytes *out);

#ifdef __cplusplus
}
#endif

#endif
