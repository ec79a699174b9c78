# Declarations of the C core (csrc/fastsmr.h), in one place.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t


cdef extern from "fastsmr.h" nogil:
    ctypedef enum fsmr_crc32_impl:
        FSMR_CRC32_TABLE
        FSMR_CRC32_PCLMUL
        FSMR_CRC32_VPCLMUL256
        FSMR_CRC32_VPCLMUL
        FSMR_CRC32_ARMV8
        FSMR_CRC32_IMPL_COUNT

    uint32_t fsmr_crc32(uint32_t crc, const void *buf, size_t len)
    uint32_t fsmr_crc32_using(fsmr_crc32_impl impl, uint32_t crc, const void *buf, size_t len)
    uint32_t fsmr_crc32_copy_using(fsmr_crc32_impl impl, uint32_t crc, void *dst, const void *src, size_t len,
                                   int uncached)
    int fsmr_crc32_available(fsmr_crc32_impl impl)
    const char *fsmr_crc32_name(fsmr_crc32_impl impl)
    fsmr_crc32_impl fsmr_crc32_active()
    int fsmr_crc32_set_impl(fsmr_crc32_impl impl)
    void fsmr_crc32_init()

    ctypedef enum fsmr_error_code:
        FSMR_OK
        FSMR_ERR_PRELUDE_CRC
        FSMR_ERR_MESSAGE_CRC
        FSMR_ERR_MESSAGE_LENGTH
        FSMR_ERR_HEADERS_LENGTH
        FSMR_ERR_PAYLOAD_LENGTH
        FSMR_ERR_NO_MEMORY
        FSMR_ERR_HEADER_NAME
        FSMR_ERR_HEADER_NO_TYPE
        FSMR_ERR_HEADER_TYPE
        FSMR_ERR_HEADER_NO_LENGTH
        FSMR_ERR_HEADER_VALUE
        FSMR_ERR_CHUNK_SIZE
        FSMR_ERR_CHUNK_SIZE_OVERFLOW
        FSMR_ERR_CHUNK_SIZE_LINE
        FSMR_ERR_CHUNK_LINE_END
        FSMR_ERR_CHUNK_DATA_END
        FSMR_ERR_CHUNK_LINE_LENGTH
        FSMR_ERR_CHUNK_DATA_LEFT
        FSMR_ERR_CHUNK_NO_LAST

    ctypedef struct fsmr_error:
        fsmr_error_code code
        uint64_t offset
        uint64_t expected
        uint64_t found
        uint64_t extra

    enum:
        FSMR_TYPE_TRUE
        FSMR_TYPE_FALSE
        FSMR_TYPE_BYTE
        FSMR_TYPE_SHORT
        FSMR_TYPE_INTEGER
        FSMR_TYPE_LONG
        FSMR_TYPE_BYTE_ARRAY
        FSMR_TYPE_STRING
        FSMR_TYPE_TIMESTAMP
        FSMR_TYPE_UUID

    ctypedef struct fsmr_header:
        uint32_t offset
        const uint8_t *name
        uint8_t name_length
        uint8_t type
        const uint8_t *value
        uint32_t value_length
        int64_t integer

    fsmr_error_code fsmr_next_header(const uint8_t *block, uint32_t length, uint32_t *pos,
                                     fsmr_header *out, fsmr_error *err)

    ctypedef enum fsmr_status:
        FSMR_NEED_INPUT
        FSMR_MESSAGE
        FSMR_PAYLOAD_BUFFER
        FSMR_ERROR

    ctypedef struct fsmr_message:
        uint64_t offset
        uint32_t total_length
        uint32_t headers_length
        uint32_t payload_length
        uint32_t prelude_crc
        uint32_t crc
        const uint8_t *headers
        const uint8_t *payload
        int payload_in_dst

    ctypedef struct fsmr_decoder:
        uint32_t buffer_payloads_from
        uint64_t offset
        uint32_t have
        uint8_t *payload_dst

    void fsmr_decoder_init(fsmr_decoder *dec, uint32_t max_headers_length, uint32_t max_payload_length)
    void fsmr_decoder_free(fsmr_decoder *dec)
    fsmr_status fsmr_decoder_next(fsmr_decoder *dec, const uint8_t *data, size_t len,
                                  size_t *consumed, fsmr_message *msg, fsmr_error *err)
    size_t fsmr_decoder_next_work(const fsmr_decoder *dec, const uint8_t *data, size_t len)

    ctypedef enum fsmr_chunked_status:
        FSMR_CHUNKED_NEED_INPUT
        FSMR_CHUNKED_END
        FSMR_CHUNKED_ERROR

    ctypedef struct fsmr_chunked:
        uint64_t offset

    void fsmr_chunked_init(fsmr_chunked *dec)
    fsmr_chunked_status fsmr_chunked_decode(fsmr_chunked *dec, const uint8_t *data, size_t len, uint8_t *out,
                                            size_t *out_length, size_t *consumed, fsmr_error *err)
    fsmr_error_code fsmr_chunked_finish(const fsmr_chunked *dec, fsmr_error *err)
