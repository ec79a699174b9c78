# Included by _codec_c.pyx: the binding of csrc/body.c, with the API of _body_py.BodyReader.
#
# Free-threading: a BodyReader lets one call at a time in (its busy flag, under
# its critical section); its buffers are touched only inside that call.

from libc.errno cimport EINTR
from libc.stdlib cimport free, malloc

cdef extern from "body.h" nogil:
    enum:
        FSMR_BODY_READ
    ctypedef enum fsmr_body_status:
        FSMR_BODY_DATA
        FSMR_BODY_CLOSED
        FSMR_BODY_TIMEOUT
        FSMR_BODY_OS_ERROR
    fsmr_body_status fsmr_body_recv(int fd, uint8_t *buf, size_t *received, int *os_error)


@cython.final
cdef class BodyReader:
    """Reads one HTTP/1.1 response body in chunked transfer coding from a
    socket and decodes its event-stream messages; see ``_body_py.BodyReader``.

    Each ``read`` receives, de-chunks and decodes with one release of the GIL
    per arrival (for the wait, the receive and the de-chunking): no poll
    before the receive, no Python between the socket and the decoder.
    """

    cdef int _fd
    cdef Decoder _decoder
    cdef fsmr_chunked _chunked
    cdef bytes _buffered  # body bytes read before the reader took over
    cdef Py_ssize_t _buffered_at
    cdef uint8_t *_buffers  # the received bytes, then the body data (FSMR_BODY_READ each)
    cdef object _error  # what ended the body, raised by every call from then on
    cdef bint _done, _busy
    cdef size_t _unused

    def __cinit__(self, fd, decoder, buffered=b""):
        cdef Py_buffer view
        if type(decoder) is not Decoder:
            raise decoder_error(decoder)
        self._fd = PyNumber_Index(fd)  # what os.read() takes: an int, not a float or a str
        self._decoder = <Decoder>decoder
        _get_bytes(buffered, &view)
        try:
            if view.len:
                self._buffered = PyBytes_FromStringAndSize(<const char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        fsmr_chunked_init(&self._chunked)

    def __dealloc__(self):
        free(self._buffers)

    @property
    def done(self):
        return self._done

    @property
    def unused(self):
        return self._unused

    def read(self, events=None):
        cdef bint was_busy
        if events is not None and type(events) is not dict:
            raise events_error(events)
        with cython.critical_section(self):
            was_busy = self._busy
            self._busy = True
        if was_busy:
            raise RuntimeError("a BodyReader is used by one thread at a time")
        try:
            return self._read(<dict>events)
        finally:
            if self._done or self._error is not None or self._decoder._error is not None:
                free(self._buffers)  # nothing is received any more: an ended body holds no buffer
                self._buffers = NULL
            with cython.critical_section(self):
                self._busy = False

    cdef object _read(self, dict events):
        cdef fsmr_body_status status = FSMR_BODY_DATA
        cdef fsmr_chunked_status chunked = FSMR_CHUNKED_NEED_INPUT
        cdef const uint8_t *data
        cdef uint8_t *out
        cdef size_t received, length, consumed, left
        cdef int os_error = 0
        cdef fsmr_error err
        cdef list messages
        while True:
            if self._error is not None:
                raise self._error.with_traceback(None)
            if self._done:
                return None
            if self._decoder._error is not None or self._decoder._closed:  # raises: as the pure twin's feed(b"")
                self._decoder._feed(NULL, 0, events)
            if self._buffers == NULL:
                self._buffers = <uint8_t *>malloc(2 * FSMR_BODY_READ)
                if self._buffers == NULL:
                    raise MemoryError()
            out = self._buffers + FSMR_BODY_READ
            chunked = FSMR_CHUNKED_NEED_INPUT
            received = length = consumed = 0
            if self._buffered is not None:  # (at most FSMR_BODY_READ at a time: out has room for that)
                data = <const uint8_t *>PyBytes_AS_STRING(self._buffered) + self._buffered_at
                left = <size_t>(PyBytes_GET_SIZE(self._buffered) - self._buffered_at)
                received = left if left < <size_t>FSMR_BODY_READ else <size_t>FSMR_BODY_READ
                self._buffered_at += received
                chunked = fsmr_chunked_decode(&self._chunked, data, received, out, &length, &consumed, &err)
                if received == left:  # only now: data points into these bytes, which only we hold
                    self._buffered = None
            else:
                with nogil:
                    status = fsmr_body_recv(self._fd, self._buffers, &received, &os_error)
                    if status == FSMR_BODY_DATA:
                        chunked = fsmr_chunked_decode(&self._chunked, self._buffers, received, out, &length,
                                                      &consumed, &err)
            # An error ends the body: every later call raises it again.
            if status == FSMR_BODY_TIMEOUT:
                import socket

                self._error = socket.timeout("timed out")  # what a socket with a timeout raises
                continue
            if status == FSMR_BODY_OS_ERROR:
                if os_error == EINTR:
                    PyErr_CheckSignals()  # raises what a signal handler raised; else receive again
                    continue
                import os

                self._error = OSError(os_error, os.strerror(os_error))  # ConnectionResetError, ...
                continue
            if status == FSMR_BODY_CLOSED:
                if fsmr_chunked_finish(&self._chunked, &err) != FSMR_OK:
                    self._error = ChunkedEncodingError(_CHUNK_PROBLEMS[err.code], err.offset, err.found)
                    continue
                self._done = True  # only the trailer section was cut short: no data lost
                return None
            if chunked == FSMR_CHUNKED_END:
                self._done = True
                self._unused = received - consumed
                if self._buffered is not None:
                    self._unused += PyBytes_GET_SIZE(self._buffered) - self._buffered_at
                    self._buffered = None
            elif chunked == FSMR_CHUNKED_ERROR:
                self._error = ChunkedEncodingError(_CHUNK_PROBLEMS[err.code], err.offset, err.found)
            if length:
                messages = self._decoder._feed(out, length, events)
                if messages:
                    return messages
