/*
 * fastsmr C core: CRC-32 and an incremental decoder for the AWS event-stream
 * framing (application/vnd.amazon.eventstream). Plain C99, no Python.
 *
 * A message on the wire: prelude (total_length, headers_length, prelude_crc;
 * big-endian uint32 each) | headers | payload | message_crc.
 */
#ifndef FSMR_FASTSMR_H
#define FSMR_FASTSMR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FSMR_PRELUDE_LENGTH 12u
#define FSMR_MIN_MESSAGE_LENGTH 16u

/* ---------------------------------------------------------------- CRC-32 */

/* The implementations this build knows; which exist on the running CPU is
   decided at run time by fsmr_crc32_available(). */
typedef enum {
    FSMR_CRC32_TABLE = 0,   /* slicing-by-8, everywhere */
    FSMR_CRC32_PCLMUL,      /* x86-64 PCLMULQDQ folding, 128-bit lanes */
    FSMR_CRC32_VPCLMUL256,  /* x86-64 VPCLMULQDQ folding, 256-bit lanes (AVX2) */
    FSMR_CRC32_VPCLMUL,     /* x86-64 VPCLMULQDQ folding, 512-bit lanes (AVX-512) */
    FSMR_CRC32_ARMV8,       /* aarch64 CRC32 instructions */
    FSMR_CRC32_IMPL_COUNT
} fsmr_crc32_impl;

/* zlib.crc32 semantics: crc32(crc32(0, a), b) == crc32(0, a + b). Uses the
   fastest implementation available (or the one forced by
   fsmr_crc32_set_impl). */
uint32_t fsmr_crc32(uint32_t crc, const void *buf, size_t len);

/* The same through one named implementation; must be available. */
uint32_t fsmr_crc32_using(fsmr_crc32_impl impl, uint32_t crc, const void *buf, size_t len);

/* fsmr_crc32 of src[0:len] that also copies those bytes to dst (the two must
   not overlap), in the same pass: each byte is read once. With uncached set,
   the copy is written with non-temporal stores where the CPU has them
   (x86-64), around the cache: for destinations too large to stay in it that
   nobody reads soon. */
uint32_t fsmr_crc32_copy(uint32_t crc, void *dst, const void *src, size_t len, int uncached);

/* The same through one named implementation; must be available. */
uint32_t fsmr_crc32_copy_using(fsmr_crc32_impl impl, uint32_t crc, void *dst, const void *src, size_t len,
                               int uncached);

int fsmr_crc32_available(fsmr_crc32_impl impl);
const char *fsmr_crc32_name(fsmr_crc32_impl impl);
fsmr_crc32_impl fsmr_crc32_active(void);

/* Select the implementation fsmr_crc32 uses; -1 if unavailable. Meant for
   tests and benchmarks: call it before any concurrent use. */
int fsmr_crc32_set_impl(fsmr_crc32_impl impl);

/* Detect the CPU and pick the fastest implementation. Idempotent; call it
   once before threads start (fsmr_crc32 calls it lazily otherwise). */
void fsmr_crc32_init(void);

/* ---------------------------------------------------------------- errors */

typedef enum {
    FSMR_OK = 0,
    FSMR_ERR_PRELUDE_CRC,      /* expected, found: CRCs */
    FSMR_ERR_MESSAGE_CRC,      /* expected, found: CRCs */
    FSMR_ERR_MESSAGE_LENGTH,   /* found: total_length, extra: headers_length */
    FSMR_ERR_HEADERS_LENGTH,   /* expected: limit, found: headers_length */
    FSMR_ERR_PAYLOAD_LENGTH,   /* expected: limit, found: payload length */
    FSMR_ERR_NO_MEMORY,
    /* header block errors (fsmr_next_header); offset is the header's */
    FSMR_ERR_HEADER_NAME,      /* name runs past the block: expected name length, found bytes left */
    FSMR_ERR_HEADER_NO_TYPE,   /* no type byte after the name */
    FSMR_ERR_HEADER_TYPE,      /* unknown type: found = the type code */
    FSMR_ERR_HEADER_NO_LENGTH, /* byte array/string without room for its uint16 length */
    FSMR_ERR_HEADER_VALUE,     /* value runs past the block: expected bytes, found bytes left */
    /* chunked transfer coding errors (fsmr_chunked_decode); offset is the
       offending byte's within the transfer-coded body */
    FSMR_ERR_CHUNK_SIZE,       /* no hex digit where the size starts: found = the byte */
    FSMR_ERR_CHUNK_SIZE_OVERFLOW, /* the size does not fit in 64 bits */
    FSMR_ERR_CHUNK_SIZE_LINE,  /* after the size, neither ';' nor a line end: found = the byte */
    FSMR_ERR_CHUNK_LINE_END,   /* CR not followed by LF: found = the byte */
    FSMR_ERR_CHUNK_DATA_END,   /* no CRLF after the chunk data: found = the byte */
    FSMR_ERR_CHUNK_LINE_LENGTH, /* a size line or the trailer section is longer than expected (the limit) */
    FSMR_ERR_CHUNK_DATA_LEFT,  /* the body ended inside a chunk: found = its data bytes missing */
    FSMR_ERR_CHUNK_NO_LAST     /* the body ended before the last chunk */
} fsmr_error_code;

typedef struct {
    fsmr_error_code code;
    uint64_t offset;   /* stream offset of the message the error is in */
    uint64_t expected;
    uint64_t found;
    uint64_t extra;
} fsmr_error;

/* --------------------------------------------------------------- headers */

enum {
    FSMR_TYPE_TRUE = 0,
    FSMR_TYPE_FALSE = 1,
    FSMR_TYPE_BYTE = 2,
    FSMR_TYPE_SHORT = 3,
    FSMR_TYPE_INTEGER = 4,
    FSMR_TYPE_LONG = 5,
    FSMR_TYPE_BYTE_ARRAY = 6,
    FSMR_TYPE_STRING = 7,
    FSMR_TYPE_TIMESTAMP = 8,
    FSMR_TYPE_UUID = 9
};

typedef struct {
    uint32_t offset;        /* of the header within the block */
    const uint8_t *name;    /* not NUL-terminated, not validated as UTF-8 */
    uint8_t name_length;
    uint8_t type;
    const uint8_t *value;   /* byte array, string and uuid values */
    uint32_t value_length;
    int64_t integer;        /* byte, short, integer, long and timestamp values */
} fsmr_header;

/* Parse the header starting at block[*pos] (*pos < length) into *out and
   advance *pos past it. On error returns the code, fills err (offset relative
   to the block, expected/found as documented above) and leaves out->name and
   out->name_length set when the name itself was complete. */
fsmr_error_code fsmr_next_header(const uint8_t *block, uint32_t length, uint32_t *pos,
                                 fsmr_header *out, fsmr_error *err);

/* --------------------------------------------------------------- decoder */

typedef enum {
    FSMR_NEED_INPUT = 0,     /* everything given was consumed */
    FSMR_MESSAGE = 1,        /* *msg is a complete message with valid CRCs */
    FSMR_PAYLOAD_BUFFER = 2, /* set payload_dst to msg->payload_length writable bytes, call again */
    FSMR_ERROR = -1          /* *err says what; the decoder is then unusable */
} fsmr_status;

typedef struct {
    uint64_t offset;            /* stream offset of the message's first byte */
    uint32_t total_length;
    uint32_t headers_length;
    uint32_t payload_length;
    uint32_t prelude_crc;
    uint32_t crc;
    const uint8_t *headers;     /* headers_length bytes (never NULL) */
    const uint8_t *payload;     /* payload_length bytes (NULL when 0) */
    int payload_in_dst;         /* payload is the caller's payload_dst buffer */
} fsmr_message;

typedef struct {
    uint32_t max_headers_length;
    uint32_t max_payload_length;
    /* Payloads of at least this many bytes (0, as init sets it: none) are
       delivered in the caller's buffer (FSMR_PAYLOAD_BUFFER) even when the
       whole message is in the data given, and checksummed as they are copied
       there: for a caller that copies every payload anyway, each byte is
       then read once, and in a call that may run without a lock. */
    uint32_t buffer_payloads_from;
    uint64_t offset;            /* stream offset of the current message */
    /* The message being assembled across calls (have > 0). */
    uint32_t have;
    uint32_t total_length, headers_length, prelude_crc;
    uint32_t running_crc;       /* internal (inverted) state over bytes received */
    uint8_t prelude[FSMR_PRELUDE_LENGTH];
    uint8_t trailer[4];
    uint8_t *headers;           /* owned, capacity headers_capacity */
    uint32_t headers_capacity;
    uint8_t *payload_dst;       /* the caller's, set after FSMR_PAYLOAD_BUFFER */
} fsmr_decoder;

void fsmr_decoder_init(fsmr_decoder *dec, uint32_t max_headers_length, uint32_t max_payload_length);
void fsmr_decoder_free(fsmr_decoder *dec);

/* Decode from data[0:len]: returns after at most one message, with
   *consumed set to the bytes used. A FSMR_MESSAGE's pointers are valid until
   the next call (they point into data, into the decoder, or, when
   payload_in_dst is set, at the caller's payload_dst). */
fsmr_status fsmr_decoder_next(fsmr_decoder *dec, const uint8_t *data, size_t len,
                              size_t *consumed, fsmr_message *msg, fsmr_error *err);

/* How many bytes the next fsmr_decoder_next call on data[0:len] may
   checksum: lets a caller decide whether the call is worth releasing a lock
   around. */
size_t fsmr_decoder_next_work(const fsmr_decoder *dec, const uint8_t *data, size_t len);

/* ------------------------------------------------------ chunked transfer */

/* The longest chunk-size line (extensions included), and the longest
   trailer section, accepted: both are skipped, never stored. */
#define FSMR_CHUNKED_MAX_LINE 65536u

typedef enum {
    FSMR_CHUNKED_NEED_INPUT = 0, /* everything given was consumed */
    FSMR_CHUNKED_END = 1,        /* the last chunk and the trailer section are read */
    FSMR_CHUNKED_ERROR = -1      /* *err says what; the decoder is then unusable */
} fsmr_chunked_status;

/* An HTTP/1.1 chunked transfer coding decoder (RFC 9112 section 7.1). It
   accepts LF as well as CRLF line ends and whitespace around the chunk size,
   and skips chunk extensions and trailer fields. */
typedef struct {
    int state;
    uint64_t offset;       /* transfer-coded bytes consumed so far */
    uint64_t chunk_left;   /* the size being read, then the data bytes left */
    uint32_t line_length;  /* of the size line, or of the trailer section */
} fsmr_chunked;

void fsmr_chunked_init(fsmr_chunked *dec);

/* Decode data[0:len], writing the body bytes it holds to out, which has room
   for len bytes; *out_length is how many were written and *consumed how many
   of data were used (all of them unless the body ended). */
fsmr_chunked_status fsmr_chunked_decode(fsmr_chunked *dec, const uint8_t *data, size_t len, uint8_t *out,
                                        size_t *out_length, size_t *consumed, fsmr_error *err);

/* The body's end, as the connection reports it: FSMR_OK if it came after
   the last chunk (a trailer section cut short loses no data, and urllib3
   accepts it too), else the error that says what is missing. */
fsmr_error_code fsmr_chunked_finish(const fsmr_chunked *dec, fsmr_error *err);

/* Walk a whole header block; FSMR_OK if every header is well formed. */
fsmr_error_code fsmr_validate_headers(const uint8_t *block, uint32_t length, fsmr_error *err);

#ifdef __cplusplus
}
#endif

#endif
