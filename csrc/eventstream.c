/*
 * Incremental event-stream framing: prelude and message validation, header
 * block walking. Checks run in the order botocore runs them (prelude CRC,
 * header limit, payload limit, then the message CRC once it is complete) so
 * that both report the same error for the same bytes.
 *
 * A message wholly inside the caller's chunk is validated in place and handed
 * back as pointers into it, unless its payload is large enough that the
 * caller asked for it in a buffer of its own (buffer_payloads_from). Any
 * other message is assembled: the prelude and headers in the decoder, the
 * payload straight into a buffer the caller supplies, and its CRC is updated
 * as the pieces arrive, computed in the same pass that copies them, so no
 * byte is ever read twice.
 */
#include "fastsmr.h"

#include <stdlib.h>
#include <string.h>

/* A payload this large is not read back while it is assembled and does not
   fit in a core's cache anyway: its bytes are written around the cache. The
   fuzz harness sets a smaller one to reach that path with small inputs. */
#ifndef FSMR_LARGE_PAYLOAD
#define FSMR_LARGE_PAYLOAD (1u << 20)
#endif

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void set_error(fsmr_error *err, fsmr_error_code code, uint64_t offset, uint64_t expected,
                      uint64_t found, uint64_t extra)
{
    err->code = code;
    err->offset = offset;
    err->expected = expected;
    err->found = found;
    err->extra = extra;
}

void fsmr_decoder_init(fsmr_decoder *dec, uint32_t max_headers_length, uint32_t max_payload_length)
{
    memset(dec, 0, sizeof(*dec));
    dec->max_headers_length = max_headers_length;
    dec->max_payload_length = max_payload_length;
    fsmr_crc32_init();
}

void fsmr_decoder_free(fsmr_decoder *dec)
{
    free(dec->headers);
    dec->headers = NULL;
    dec->headers_capacity = 0;
}

/* Validate a prelude; on success fills the lengths. */
static fsmr_error_code check_prelude(const fsmr_decoder *dec, const uint8_t *p, uint64_t offset,
                                     uint32_t *total, uint32_t *headers_length,
                                     uint32_t *prelude_crc, fsmr_error *err)
{
    uint32_t t = be32(p), h = be32(p + 4), crc = be32(p + 8);
    uint32_t computed = fsmr_crc32(0, p, 8);
    /* Signed, as botocore computes it: a header block larger than the
       message makes it negative rather than huge. */
    int64_t payload_length = (int64_t)t - (int64_t)h - FSMR_MIN_MESSAGE_LENGTH;

    if (computed != crc) {
        set_error(err, FSMR_ERR_PRELUDE_CRC, offset, crc, computed, 0);
        return err->code;
    }
    if (h > dec->max_headers_length) {
        set_error(err, FSMR_ERR_HEADERS_LENGTH, offset, dec->max_headers_length, h, 0);
        return err->code;
    }
    if (payload_length > (int64_t)dec->max_payload_length) {
        set_error(err, FSMR_ERR_PAYLOAD_LENGTH, offset, dec->max_payload_length,
                  (uint64_t)payload_length, 0);
        return err->code;
    }
    if (t < FSMR_MIN_MESSAGE_LENGTH || payload_length < 0) {
        set_error(err, FSMR_ERR_MESSAGE_LENGTH, offset, 0, t, h);
        return err->code;
    }
    *total = t;
    *headers_length = h;
    *prelude_crc = crc;
    return FSMR_OK;
}

static const uint8_t empty_block[1];

static void fill_message(fsmr_message *msg, uint64_t offset, uint32_t total, uint32_t headers_length,
                         uint32_t prelude_crc, uint32_t crc, const uint8_t *headers,
                         const uint8_t *payload, int payload_in_dst)
{
    msg->offset = offset;
    msg->total_length = total;
    msg->headers_length = headers_length;
    msg->payload_length = total - headers_length - FSMR_MIN_MESSAGE_LENGTH;
    msg->prelude_crc = prelude_crc;
    msg->crc = crc;
    /* Never NULL, even when empty (an assembled message without headers has
       no header buffer): callers pass it straight to memcmp and memcpy. */
    msg->headers = headers ? headers : empty_block;
    msg->payload = msg->payload_length ? payload : NULL;
    msg->payload_in_dst = payload_in_dst;
}

/* Whether a message's payload goes to the caller's buffer even when the
   whole message is in the data. */
static int wants_buffer(const fsmr_decoder *dec, uint32_t total, uint32_t headers_length)
{
    uint32_t payload_length = total - headers_length - FSMR_MIN_MESSAGE_LENGTH;
    return dec->buffer_payloads_from && payload_length >= dec->buffer_payloads_from;
}

/* Continue (or start) assembling a message that is not whole in data, or
   whose payload the caller wants in its own buffer. */
static fsmr_status assemble(fsmr_decoder *dec, const uint8_t *data, size_t len, size_t *consumed,
                            fsmr_message *msg, fsmr_error *err)
{
    size_t pos = 0;
    uint32_t headers_end, payload_end;

    if (dec->have < FSMR_PRELUDE_LENGTH) {
        size_t n = FSMR_PRELUDE_LENGTH - dec->have;
        if (n > len) {
            n = len;
        }
        memcpy(dec->prelude + dec->have, data, n);
        dec->have += (uint32_t)n;
        pos = n;
        if (dec->have < FSMR_PRELUDE_LENGTH) {
            *consumed = pos;
            return FSMR_NEED_INPUT;
        }
        if (check_prelude(dec, dec->prelude, dec->offset, &dec->total_length, &dec->headers_length,
                          &dec->prelude_crc, err) != FSMR_OK) {
            *consumed = pos;
            return FSMR_ERROR;
        }
        if (dec->headers_length > dec->headers_capacity) {
            uint8_t *grown = (uint8_t *)realloc(dec->headers, dec->headers_length);
            if (!grown) {
                set_error(err, FSMR_ERR_NO_MEMORY, dec->offset, 0, dec->headers_length, 0);
                *consumed = pos;
                return FSMR_ERROR;
            }
            dec->headers = grown;
            dec->headers_capacity = dec->headers_length;
        }
        dec->running_crc = ~fsmr_crc32(0, dec->prelude, FSMR_PRELUDE_LENGTH);
        dec->payload_dst = NULL;
    }
    if (!dec->payload_dst && dec->total_length - dec->headers_length > FSMR_MIN_MESSAGE_LENGTH) {
        fill_message(msg, dec->offset, dec->total_length, dec->headers_length, dec->prelude_crc, 0,
                     NULL, NULL, 1);
        *consumed = pos;
        return FSMR_PAYLOAD_BUFFER;
    }

    headers_end = FSMR_PRELUDE_LENGTH + dec->headers_length;
    payload_end = dec->total_length - 4;
    while (pos < len && dec->have < dec->total_length) {
        size_t room = len - pos;
        uint32_t region_end;
        uint8_t *dst;
        if (dec->have < headers_end) {
            region_end = headers_end;
            dst = dec->headers + (dec->have - FSMR_PRELUDE_LENGTH);
        } else if (dec->have < payload_end) {
            region_end = payload_end;
            dst = dec->payload_dst + (dec->have - headers_end);
        } else {
            region_end = dec->total_length;
            dst = dec->trailer + (dec->have - payload_end);
        }
        if (room > region_end - dec->have) {
            room = region_end - dec->have;
        }
        if (region_end == dec->total_length) {
            memcpy(dst, data + pos, room); /* the message CRC itself */
        } else {
            int uncached = region_end == payload_end && payload_end - headers_end >= FSMR_LARGE_PAYLOAD;
            dec->running_crc = ~fsmr_crc32_copy(~dec->running_crc, dst, data + pos, room, uncached);
        }
        dec->have += (uint32_t)room;
        pos += room;
    }
    *consumed = pos;
    if (dec->have < dec->total_length) {
        return FSMR_NEED_INPUT;
    }

    {
        uint32_t expected = be32(dec->trailer);
        uint32_t computed = ~dec->running_crc;
        uint64_t offset = dec->offset;
        dec->have = 0;
        dec->offset += dec->total_length;
        if (computed != expected) {
            set_error(err, FSMR_ERR_MESSAGE_CRC, offset, expected, computed, 0);
            return FSMR_ERROR;
        }
        fill_message(msg, offset, dec->total_length, dec->headers_length, dec->prelude_crc, expected,
                     dec->headers, dec->payload_dst, 1);
        dec->payload_dst = NULL;
        return FSMR_MESSAGE;
    }
}

fsmr_status fsmr_decoder_next(fsmr_decoder *dec, const uint8_t *data, size_t len, size_t *consumed,
                              fsmr_message *msg, fsmr_error *err)
{
    uint32_t total, headers_length, prelude_crc;

    if (len == 0) {
        *consumed = 0;
        return FSMR_NEED_INPUT;
    }
    if (dec->have > 0 || len < FSMR_PRELUDE_LENGTH) {
        return assemble(dec, data, len, consumed, msg, err);
    }
    if (check_prelude(dec, data, dec->offset, &total, &headers_length, &prelude_crc, err) != FSMR_OK) {
        *consumed = 0;
        return FSMR_ERROR;
    }
    if (len < total || wants_buffer(dec, total, headers_length)) {
        return assemble(dec, data, len, consumed, msg, err);
    }
    {
        /* As botocore does: the CRC of bytes 8.. continuing from the prelude
           CRC, which equals the CRC of everything before the trailer. */
        uint32_t expected = be32(data + total - 4);
        uint32_t computed = fsmr_crc32(prelude_crc, data + 8, total - 12);
        if (computed != expected) {
            set_error(err, FSMR_ERR_MESSAGE_CRC, dec->offset, expected, computed, 0);
            *consumed = 0;
            return FSMR_ERROR;
        }
        fill_message(msg, dec->offset, total, headers_length, prelude_crc, expected,
                     data + FSMR_PRELUDE_LENGTH, data + FSMR_PRELUDE_LENGTH + headers_length, 0);
        dec->offset += total;
        *consumed = total;
        return FSMR_MESSAGE;
    }
}

size_t fsmr_decoder_next_work(const fsmr_decoder *dec, const uint8_t *data, size_t len)
{
    size_t work;
    if (dec->have >= FSMR_PRELUDE_LENGTH) {
        work = dec->total_length - dec->have;
    } else if (dec->have == 0 && len >= 4) {
        work = be32(data);
        if (len >= FSMR_PRELUDE_LENGTH && work > FSMR_MIN_MESSAGE_LENGTH) {
            /* A message that will be assembled stops for its payload buffer
               after the prelude: that call reads 12 bytes. */
            uint32_t total = (uint32_t)work, headers_length = be32(data + 4);
            if (headers_length < total - FSMR_MIN_MESSAGE_LENGTH &&
                (len < total || wants_buffer(dec, total, headers_length))) {
                work = FSMR_PRELUDE_LENGTH;
            }
        }
    } else {
        work = FSMR_PRELUDE_LENGTH;
    }
    return work < len ? work : len;
}

static const uint8_t fixed_sizes[10] = {0, 0, 1, 2, 4, 8, 0, 0, 8, 16};

static int64_t be_signed(const uint8_t *p, uint8_t size)
{
    uint64_t v = 0;
    uint8_t i;
    for (i = 0; i < size; i++) {
        v = v << 8 | p[i];
    }
    /* Sign-extend from the value's width. */
    if (size < 8 && (v >> (size * 8 - 1)) & 1) {
        v |= ~UINT64_C(0) << (size * 8);
    }
    return (int64_t)v;
}

fsmr_error_code fsmr_next_header(const uint8_t *block, uint32_t length, uint32_t *pos,
                                 fsmr_header *out, fsmr_error *err)
{
    uint32_t p = *pos;
    uint32_t left;

    out->offset = p;
    out->name = NULL;
    out->name_length = block[p];
    p++;
    if (out->name_length > length - p) {
        set_error(err, FSMR_ERR_HEADER_NAME, out->offset, out->name_length, length - p, 0);
        return err->code;
    }
    out->name = block + p;
    p += out->name_length;
    if (p >= length) {
        set_error(err, FSMR_ERR_HEADER_NO_TYPE, out->offset, 0, 0, 0);
        return err->code;
    }
    out->type = block[p++];
    out->value = NULL;
    out->value_length = 0;
    out->integer = 0;
    left = length - p;
    switch (out->type) {
    case FSMR_TYPE_TRUE:
    case FSMR_TYPE_FALSE:
        break;
    case FSMR_TYPE_BYTE_ARRAY:
    case FSMR_TYPE_STRING:
        if (left < 2) {
            set_error(err, FSMR_ERR_HEADER_NO_LENGTH, out->offset, 2, left, out->type);
            return err->code;
        }
        out->value_length = (uint32_t)block[p] << 8 | block[p + 1];
        p += 2;
        left -= 2;
        if (out->value_length > left) {
            set_error(err, FSMR_ERR_HEADER_VALUE, out->offset, out->value_length, left, out->type);
            return err->code;
        }
        out->value = block + p;
        p += out->value_length;
        break;
    case FSMR_TYPE_UUID:
    case FSMR_TYPE_BYTE:
    case FSMR_TYPE_SHORT:
    case FSMR_TYPE_INTEGER:
    case FSMR_TYPE_LONG:
    case FSMR_TYPE_TIMESTAMP: {
        uint8_t size = fixed_sizes[out->type];
        if (size > left) {
            set_error(err, FSMR_ERR_HEADER_VALUE, out->offset, size, left, out->type);
            return err->code;
        }
        if (out->type == FSMR_TYPE_UUID) {
            out->value = block + p;
            out->value_length = size;
        } else {
            out->integer = be_signed(block + p, size);
        }
        p += size;
        break;
    }
    default:
        set_error(err, FSMR_ERR_HEADER_TYPE, out->offset, 0, out->type, out->type);
        return err->code;
    }
    *pos = p;
    return FSMR_OK;
}

fsmr_error_code fsmr_validate_headers(const uint8_t *block, uint32_t length, fsmr_error *err)
{
    uint32_t pos = 0;
    fsmr_header h;
    while (pos < length) {
        fsmr_error_code code = fsmr_next_header(block, length, &pos, &h, err);
        if (code != FSMR_OK) {
            return code;
        }
    }
    return FSMR_OK;
}
