# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=True
#
# Free-threading (the directive above declares Py_MOD_GIL_NOT_USED): every
# piece of mutable state is per Decoder or written only before threads start.
# * A Decoder's C state, its payload buffer, its pending error and its string
#   and header-block caches are touched only between _enter() and _leave(),
#   which let one call at a time in (a critical section guards the busy
#   flag on free-threaded builds); a second thread gets a RuntimeError,
#   never shared writes. The GIL-free copy of a large payload writes only
#   into the bytes object the decoder allocated for it and has not handed
#   out yet.
#   (``buffered`` reads one aligned 32-bit count without claiming it.)
# * A Message's fields are set when it is built; the one written later, the
#   private copy of its headers made on first access, is made under the
#   Message's critical section, so it is made once and never replaced.
# * A _LineIterator (iter_lines) scans and advances under its own critical
#   section, so sharing one between threads cannot free the chunk it scans.
# * Module globals: _TYPE_NAMES is a dict that is only read. The C core's CRC
#   dispatch (csrc/crc32.c) is chosen by fsmr_crc32_init() at import, below,
#   and changed afterwards only by _set_crc32_impl, a test-only setter
#   documented as not thread-safe. Cython turns off its type freelists on
#   free-threaded builds.
"""The C backend: a thin binding of csrc/ with the API of ``_codec_py``.

The C core finds and validates frames; this layer turns header values into
the Python objects botocore would produce and owns every Python object. It
passes the C core's error codes and numbers to the builders in ``errors``
(and ``muxing``), so both backends word every error alike. The public API is
documented once, in ``_codec_c.pyi``; docstrings here are for what only this
module has.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE, _PyBytes_Resize
from cpython.dict cimport PyDict_Copy, PyDict_SetDefault
from cpython.number cimport PyNumber_Index
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy, memset

from ._csrc cimport *

from .errors import (
    ChecksumMismatch,
    ChunkedEncodingError,
    DecodeError,
    DuplicateHeader,
    InvalidHeader,
    InvalidHeadersLength,
    InvalidMessageLength,
    InvalidPayloadLength,
    TruncatedStreamError,
    buffer_error,
    closed_error,
    decoder_error,
    events_error,
    header_error,
)
from .message import (
    DEFAULT_MAX_HEADERS_LENGTH,
    DEFAULT_MAX_PAYLOAD_LENGTH,
    check_converters,
    check_limit,
    convert_header,
    event_member,
    message_repr,
)

__all__ = ["BACKEND", "crc32", "Message", "Decoder", "decode", "iter_lines", "ChunkedDecoder", "Mux", "MUX_END",
           "MUX_END_UNUSED", "BodyReader"]

BACKEND = "c"

cdef extern from "Python.h":
    Py_ssize_t PyDict_GET_SIZE(dict d)
    # A new reference, owned by the caller: ChunkedDecoder resizes it in place.
    PyObject *_new_bytes "PyBytes_FromStringAndSize"(const char *data, Py_ssize_t size) except NULL

cdef enum:
    # Checksumming at least this many bytes is worth releasing the GIL for.
    NOGIL_WORK = 65536
    # Per-decoder cache of short decoded strings (header names and values
    # such as ":event-type" / "PayloadPart" repeat in every message).
    CACHE_SLOTS = 32  # the slot index is the top 5 bits of a 64-bit hash
    CACHE_MAX_LENGTH = 40
    # Per-decoder cache of whole header blocks: a stream repeats a few.
    BLOCK_SLOTS = 4
    BLOCK_MAX_LENGTH = 256

cdef struct cached_block:
    PyObject *headers  # the parsed dict, shared by the messages that carry this block
    PyObject *events   # the feed(events=...) mapping `decision` was made for, or NULL
    PyObject *decision  # message.event_member(headers, events): a message with this block as an event, or not
    uint32_t length
    uint8_t data[BLOCK_MAX_LENGTH]

cdef struct cached_str:
    PyObject *obj
    uint64_t head  # the first and last eight bytes, zero-padded when shorter:
    uint64_t tail  # for up to 16 bytes they are the whole string
    uint8_t length
    char middle[CACHE_MAX_LENGTH - 16]

fsmr_crc32_init()


cdef int _get_bytes(object data, Py_buffer *view) except -1:
    """PyObject_GetBuffer(data, view, PyBUF_SIMPLE), its refusal worded by
    errors.buffer_error, as the pure twins word it (whatever the exporter said)."""
    try:
        PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
    except (TypeError, BufferError, ValueError):
        error = buffer_error(data)
        if error is None:
            raise
        raise error from None
    return 0


def crc32(data, value=0):
    cdef uint32_t crc = <uint32_t>(value & 0xFFFFFFFF)
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        if view.len >= NOGIL_WORK:
            with nogil:
                crc = fsmr_crc32(crc, view.buf, <size_t>view.len)
        else:
            crc = fsmr_crc32(crc, view.buf, <size_t>view.len)
    finally:
        PyBuffer_Release(&view)
    return crc


cdef fsmr_crc32_impl _impl_named(str name) except *:
    cdef int i
    for i in range(FSMR_CRC32_IMPL_COUNT):
        if fsmr_crc32_name(<fsmr_crc32_impl>i).decode() == name:
            if not fsmr_crc32_available(<fsmr_crc32_impl>i):
                raise ValueError(f"CRC-32 implementation {name!r} is not available on this CPU")
            return <fsmr_crc32_impl>i
    raise ValueError(f"unknown CRC-32 implementation {name!r}")


def _crc32_impls():
    """Names of the CRC-32 implementations this CPU can run, slowest first."""
    return [
        fsmr_crc32_name(<fsmr_crc32_impl>i).decode()
        for i in range(FSMR_CRC32_IMPL_COUNT)
        if fsmr_crc32_available(<fsmr_crc32_impl>i)
    ]


def _crc32_impl():
    """Name of the implementation ``crc32`` and the decoder use."""
    return fsmr_crc32_name(fsmr_crc32_active()).decode()


def _set_crc32_impl(str name):
    """Force one implementation (tests and benchmarks; not thread-safe)."""
    fsmr_crc32_set_impl(_impl_named(name))


def _crc32_using(str name, data, value=0):
    """``crc32`` through the named implementation."""
    cdef fsmr_crc32_impl impl = _impl_named(name)
    cdef uint32_t crc = <uint32_t>(value & 0xFFFFFFFF)
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        crc = fsmr_crc32_using(impl, crc, view.buf, <size_t>view.len)
    finally:
        PyBuffer_Release(&view)
    return crc


def _crc32_copy_using(str name, data, value=0, bint uncached=False, Py_ssize_t at=0):
    """``crc32`` through the named implementation's copying twin: ``(crc, out)``.

    ``out`` is ``at + len(data) + 64`` bytes of 0xA5 with the copy at ``at``,
    so a test can see both the copy and that nothing around it was written.
    """
    cdef fsmr_crc32_impl impl = _impl_named(name)
    cdef uint32_t crc = <uint32_t>(value & 0xFFFFFFFF)
    cdef Py_buffer view
    cdef bytes out
    if at < 0:
        raise ValueError("at must be >= 0")
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        out = PyBytes_FromStringAndSize(NULL, at + view.len + 64)
        memset(PyBytes_AS_STRING(out), 0xA5, at + view.len + 64)
        crc = fsmr_crc32_copy_using(impl, crc, PyBytes_AS_STRING(out) + at, view.buf, <size_t>view.len, uncached)
    finally:
        PyBuffer_Release(&view)
    return crc, out


# A Message only refers to a dict of str/int/bytes/bool and to bytes, so it
# cannot be part of a reference cycle unless a caller puts one in its
# headers; leaving it out of the cycle collector makes decoding many small
# messages twice as fast.
@cython.no_gc
@cython.freelist(256)
@cython.final
cdef class Message:

    # Messages with the same header block share one parsed dict (_shared);
    # a message gets a copy of its own (_own) only when .headers is asked
    # for, so code that reads event_type and payload allocates no dict.
    cdef dict _shared
    cdef dict _own
    cdef readonly bytes payload
    cdef readonly uint32_t prelude_crc
    cdef readonly uint32_t crc
    cdef readonly uint32_t total_length

    def __init__(self, dict headers, bytes payload, uint32_t prelude_crc, uint32_t crc,
                 uint32_t total_length):
        self._shared = self._own = headers
        self.payload = payload
        self.prelude_crc = prelude_crc
        self.crc = crc
        self.total_length = total_length

    @property
    def headers(self):
        cdef dict own
        # The one field written after construction. Two threads asking at
        # once on a free-threaded build would otherwise both store a copy,
        # the second freeing the first while the first thread returns it.
        with cython.critical_section(self):
            if self._own is None:
                self._own = PyDict_Copy(self._shared)
            own = self._own
        return own

    cdef inline dict _current(self):
        return self._own if self._own is not None else self._shared

    @property
    def message_type(self):
        return self._current().get(":message-type")

    @property
    def event_type(self):
        return self._current().get(":event-type")

    def __eq__(self, other):
        if type(other) is not Message:
            return NotImplemented
        cdef Message o = <Message>other
        return (
            self.total_length == o.total_length
            and self.crc == o.crc
            and self.prelude_crc == o.prelude_crc
            and self.payload == o.payload
            and self._current() == o._current()
        )

    __hash__ = None

    def __repr__(self):
        return message_repr(self)

    def __reduce__(self):
        return (Message, (self._current(), self.payload, self.prelude_crc, self.crc, self.total_length))


cdef object _framing_error(fsmr_error *err):
    cdef uint64_t offset = err.offset
    if err.code == FSMR_ERR_PRELUDE_CRC:
        return ChecksumMismatch("prelude", err.expected, err.found, offset)
    if err.code == FSMR_ERR_MESSAGE_CRC:
        return ChecksumMismatch("message", err.expected, err.found, offset)
    if err.code == FSMR_ERR_MESSAGE_LENGTH:
        return InvalidMessageLength(err.found, err.extra, offset)
    if err.code == FSMR_ERR_HEADERS_LENGTH:
        return InvalidHeadersLength(err.found, err.expected, offset)
    if err.code == FSMR_ERR_PAYLOAD_LENGTH:
        return InvalidPayloadLength(err.found, err.expected, offset)
    if err.code == FSMR_ERR_NO_MEMORY:
        return MemoryError(f"cannot buffer a header block of {err.found} bytes")
    return DecodeError(f"decoder error {<int>err.code}", offset)


# The C core's header error codes by the names errors.header_error gives them texts under.
cdef dict _HEADER_PROBLEMS = {
    FSMR_ERR_HEADER_NAME: "name_length",
    FSMR_ERR_HEADER_NO_TYPE: "no_type",
    FSMR_ERR_HEADER_TYPE: "type",
    FSMR_ERR_HEADER_NO_LENGTH: "no_length",
    FSMR_ERR_HEADER_VALUE: "value_length",
}


cdef inline void _forget_decision(cached_block *slot) noexcept:
    Py_XDECREF(slot.events)
    Py_XDECREF(slot.decision)
    slot.events = NULL
    slot.decision = NULL


@cython.final
cdef class Decoder:

    cdef fsmr_decoder _dec
    cdef bytes _payload  # the payload of the message being assembled
    cdef object _error
    cdef bint _busy
    cdef bint _closed  # close() was called: feed() refuses
    cdef cached_str _strings[CACHE_SLOTS]
    cdef cached_block _blocks[BLOCK_SLOTS]
    cdef unsigned int _next_block
    cdef tuple _convert  # header_converters indexed by type code, or None

    def __cinit__(self):
        fsmr_decoder_init(&self._dec, 0, 0)
        memset(self._strings, 0, sizeof(self._strings))
        memset(self._blocks, 0, sizeof(self._blocks))

    def __init__(self, *, max_payload_length=DEFAULT_MAX_PAYLOAD_LENGTH,
                 max_headers_length=DEFAULT_MAX_HEADERS_LENGTH, header_converters=None):
        cdef uint32_t max_headers = check_limit("max_headers_length", max_headers_length)
        cdef uint32_t max_payload = check_limit("max_payload_length", max_payload_length)
        cdef tuple convert = check_converters(header_converters)
        # A second __init__ frees the header buffer and the payload being
        # assembled: never while a feed() in another thread writes into them.
        self._enter("__init__")
        try:
            fsmr_decoder_free(&self._dec)
            fsmr_decoder_init(&self._dec, max_headers, max_payload)
            # Every payload ends up in a bytes object: a large one is copied
            # there by the C core, checksummed in the same pass and without
            # the GIL, even when the whole message is in one chunk.
            self._dec.buffer_payloads_from = NOGIL_WORK
            self._payload = None
            self._error = None
            self._closed = False
            self._convert = convert
            self._drop_blocks()
        finally:
            self._leave()

    cdef int _enter(self, str what) except -1:
        # Claims the decoder for one call. The test and the set must be one
        # step: with a GIL they are (nothing between them can switch
        # threads); on a free-threaded build the per-object critical section
        # makes them so, and it is held only for these two lines, never
        # across the GIL-free checksum.
        cdef bint was_busy
        with cython.critical_section(self):
            was_busy = self._busy
            self._busy = True
        if was_busy:
            raise RuntimeError(
                f"Decoder.{what}() was called while another thread was using the same "
                "Decoder; use one Decoder per stream"
            )
        return 0

    cdef void _leave(self) noexcept:
        with cython.critical_section(self):
            self._busy = False

    cdef void _drop_blocks(self) noexcept:
        # Parsed header blocks depend on the converters: a new __init__ forgets them.
        cdef int i
        for i in range(BLOCK_SLOTS):
            Py_XDECREF(self._blocks[i].headers)
            self._blocks[i].headers = NULL
            _forget_decision(&self._blocks[i])

    def __dealloc__(self):
        cdef int i
        fsmr_decoder_free(&self._dec)
        for i in range(CACHE_SLOTS):
            Py_XDECREF(self._strings[i].obj)
        for i in range(BLOCK_SLOTS):
            Py_XDECREF(self._blocks[i].headers)
            _forget_decision(&self._blocks[i])

    @property
    def buffered(self):
        return self._dec.have

    cdef str _string(self, const uint8_t *p, Py_ssize_t n):
        cdef cached_str *slot
        cdef str s
        cdef uint64_t head = 0, tail = 0
        if n > CACHE_MAX_LENGTH:
            return PyUnicode_DecodeUTF8(<const char *>p, n, NULL)
        if n >= 8:
            memcpy(&head, p, 8)
            memcpy(&tail, p + n - 8, 8)
        else:
            memcpy(&head, p, n)
        # Hash the first and last eight bytes: enough to tell apart the few
        # distinct names and values a stream repeats.
        slot = &self._strings[
            ((head ^ (tail * 0x9E3779B97F4A7C15ULL) ^ <uint64_t>n) * 0xC2B2AE3D27D4EB4FULL) >> 59
        ]
        if (
            slot.obj != NULL and slot.length == n and slot.head == head and slot.tail == tail
            and (n <= 16 or memcmp(slot.middle, p + 8, n - 16) == 0)
        ):
            return <str>slot.obj
        s = PyUnicode_DecodeUTF8(<const char *>p, n, NULL)
        Py_INCREF(s)
        Py_XDECREF(slot.obj)
        slot.obj = <PyObject *>s
        slot.length = <uint8_t>n
        slot.head = head
        slot.tail = tail
        if n > 16:
            memcpy(slot.middle, p + 8, n - 16)
        return s

    cdef dict _headers(self, const uint8_t *block, uint32_t length, uint64_t base):
        cdef dict headers = {}
        cdef uint32_t pos = 0
        cdef fsmr_header h
        cdef fsmr_error err
        cdef fsmr_error_code code = FSMR_OK
        cdef str name = None
        cdef object value
        cdef bint in_name = True
        cdef Py_ssize_t count
        try:
            while pos < length:
                code = fsmr_next_header(block, length, &pos, &h, &err)
                if code == FSMR_ERR_HEADER_NAME:
                    break
                in_name = True
                name = self._string(h.name, h.name_length)
                in_name = False
                if code != FSMR_OK:
                    break
                if h.type == FSMR_TYPE_STRING:
                    value = self._string(h.value, h.value_length)
                elif h.type == FSMR_TYPE_TRUE:
                    value = True
                elif h.type == FSMR_TYPE_FALSE:
                    value = False
                elif h.type == FSMR_TYPE_BYTE_ARRAY or h.type == FSMR_TYPE_UUID:
                    value = PyBytes_FromStringAndSize(<const char *>h.value, h.value_length)
                else:
                    value = h.integer
                if self._convert is not None and self._convert[h.type] is not None:
                    value = convert_header(self._convert[h.type], value, name, h.type, base + h.offset)
                # One hash lookup instead of two: a duplicate leaves the size as is.
                count = PyDict_GET_SIZE(headers)
                PyDict_SetDefault(headers, name, value)
                if PyDict_GET_SIZE(headers) == count:
                    raise DuplicateHeader(name, base + h.offset)
        except UnicodeDecodeError as exc:
            if in_name:
                raise header_error("name_utf8", base + h.offset, detail=exc.reason) from None
            raise header_error("value_utf8", base + h.offset, name=name, detail=exc.reason) from None
        if code == FSMR_ERR_HEADER_NAME:
            raise header_error("name_length", base + h.offset, needed=err.expected, left=err.found)
        if code != FSMR_OK:
            if code == FSMR_ERR_HEADER_VALUE and name in headers and (
                h.type == FSMR_TYPE_BYTE_ARRAY or h.type == FSMR_TYPE_STRING or h.type == FSMR_TYPE_UUID
            ):
                # botocore reads such a value short and then finds the
                # duplicate: report it as it would.
                raise DuplicateHeader(name, base + h.offset)
            raise header_error(_HEADER_PROBLEMS[code], base + h.offset, name=name, kind=h.type,
                               needed=err.expected, left=err.found)
        return headers

    cdef object _item(self, fsmr_message *m, dict events):
        """The Message for m, or its event shaped as ``events`` asks (see feed)."""
        cdef Message msg
        cdef cached_block *slot = NULL
        cdef cached_block *found = NULL
        cdef dict headers
        cdef bytes payload
        cdef object decision
        cdef bint shared = True
        cdef int i
        for i in range(BLOCK_SLOTS):
            slot = &self._blocks[i]
            if (
                slot.headers != NULL and slot.length == m.headers_length
                and memcmp(slot.data, m.headers, m.headers_length) == 0
            ):
                headers = <dict>slot.headers
                found = slot
                break
        else:
            try:
                headers = self._headers(m.headers, m.headers_length, m.offset + 12)
            except (InvalidHeader, DuplicateHeader) as error:
                error.header_block = PyBytes_FromStringAndSize(<const char *>m.headers, m.headers_length)
                raise
            if m.headers_length <= BLOCK_MAX_LENGTH:
                slot = &self._blocks[self._next_block]
                self._next_block = (self._next_block + 1) % BLOCK_SLOTS
                Py_INCREF(headers)
                Py_XDECREF(slot.headers)
                slot.headers = <PyObject *>headers
                _forget_decision(slot)
                slot.length = m.headers_length
                memcpy(slot.data, m.headers, m.headers_length)
                found = slot
            else:
                shared = False
        if m.payload_length == 0:
            payload = b""
        elif m.payload_in_dst:
            payload = self._payload
            self._payload = None
        else:
            payload = PyBytes_FromStringAndSize(<const char *>m.payload, m.payload_length)
        if events is not None:
            # message.event_member decides, once per header block and mapping:
            # a Python call per message would cost more than decoding it.
            if found == NULL:
                decision = event_member(headers, events)
            else:
                if found.events != <PyObject *>events:
                    decision = event_member(headers, events)
                    _forget_decision(found)
                    Py_INCREF(events)
                    found.events = <PyObject *>events
                    Py_INCREF(decision)
                    found.decision = <PyObject *>decision
                decision = <object>found.decision
            if decision is not None:
                # message.shape_event, inlined for the same reason.
                if (<tuple>decision)[1] is None:
                    return payload
                return {(<tuple>decision)[0]: {(<tuple>decision)[1]: payload}}
        msg = Message.__new__(Message)
        msg._shared = headers
        if not shared:
            msg._own = headers
        msg.payload = payload
        msg.prelude_crc = m.prelude_crc
        msg.crc = m.crc
        msg.total_length = m.total_length
        return msg

    cdef int _run(self, const uint8_t *data, size_t size, list out, dict events) except -1:
        cdef size_t used = 0
        cdef fsmr_status status
        cdef fsmr_message m
        cdef fsmr_error err
        while True:
            if fsmr_decoder_next_work(&self._dec, data, size) >= NOGIL_WORK:
                with nogil:
                    status = fsmr_decoder_next(&self._dec, data, size, &used, &m, &err)
            else:
                status = fsmr_decoder_next(&self._dec, data, size, &used, &m, &err)
            data += used
            size -= used
            if status == FSMR_MESSAGE:
                out.append(self._item(&m, events))
            elif status == FSMR_NEED_INPUT:
                return 0
            elif status == FSMR_PAYLOAD_BUFFER:
                self._payload = PyBytes_FromStringAndSize(NULL, m.payload_length)
                self._dec.payload_dst = <uint8_t *>PyBytes_AS_STRING(self._payload)
            else:
                raise _framing_error(&err)

    def feed(self, data, events=None):
        cdef Py_buffer view
        if events is not None and type(events) is not dict:
            raise events_error(events)
        _get_bytes(data, &view)
        try:
            return self._feed(<const uint8_t *>view.buf, <size_t>view.len, <dict>events)
        finally:
            PyBuffer_Release(&view)

    cdef list _feed(self, const uint8_t *data, size_t size, dict events):
        # feed() of size bytes at data: also what a BodyReader decodes its body with.
        cdef list out = []
        self._enter("feed")
        try:
            if self._error is not None:
                # Without the reset, every re-raise would prepend to the same
                # traceback: a caller that keeps feeding a failed decoder
                # would grow it without bound.
                raise self._error.with_traceback(None)
            if self._closed:
                raise closed_error("Decoder", "feed")
            try:
                self._run(data, size, out, events)
            except BaseException as exc:
                # Whatever escapes _run (a DecodeError, or a MemoryError from
                # the C decoder or from building a message) leaves the C
                # decoder mid-message or unusable and some of the chunk
                # consumed: the stream cannot go on, so every later call
                # re-raises. Feeding on after a failed header-block
                # allocation would otherwise write through a NULL buffer.
                self._error = exc
                self._payload = None
                if not out or not isinstance(exc, DecodeError):
                    raise
        finally:
            self._leave()
        return out

    def close(self):
        self._enter("close")
        try:
            self._closed = True
            if self._error is not None:
                raise self._error.with_traceback(None)
            if self._dec.have:
                self._error = TruncatedStreamError(self._dec.have, self._dec.offset)
                raise self._error
        finally:
            self._leave()


def decode(data, *, max_payload_length=DEFAULT_MAX_PAYLOAD_LENGTH,
           max_headers_length=DEFAULT_MAX_HEADERS_LENGTH):
    cdef Decoder decoder = Decoder(
        max_payload_length=max_payload_length, max_headers_length=max_headers_length
    )
    messages = decoder.feed(data)
    decoder.close()
    return messages


@cython.final
cdef object _NO_PART = object()  # what next() gives at the end of the parts: None is a part like any other


cdef class _LineIterator:
    """The C loop behind ``fastsmr.lines`` (see ``tokens/lines.py`` for the contract)."""

    cdef object _parts      # iterator over the chunks
    cdef object _to_bytes   # the caller's conversion of a part that is not bytes (TypeError if it is not bytes-like)
    cdef bytes _part        # the chunk being scanned
    cdef Py_ssize_t _pos    # where scanning resumes in _part
    cdef bytearray _tail    # the start of a line that began in an earlier chunk
    cdef bint _keepends

    def __cinit__(self, parts, bint keepends, to_bytes):
        self._parts = iter(parts)
        self._to_bytes = to_bytes
        self._part = b""
        self._pos = 0
        self._tail = bytearray()
        self._keepends = keepends

    def __iter__(self):
        return self

    cdef inline bytes _line(self, const char *start, Py_ssize_t length):
        if not self._keepends and length > 0 and start[length - 1] == b"\r":
            length -= 1
        return PyBytes_FromStringAndSize(start, length)

    cdef inline int _append(self, const char *start, Py_ssize_t length) except -1:
        cdef Py_ssize_t old = PyByteArray_GET_SIZE(self._tail)
        PyByteArray_Resize(self._tail, old + length)  # over-allocates: linear overall
        memcpy(PyByteArray_AS_STRING(self._tail) + old, start, length)
        return 0

    cdef inline bytes _take_tail(self):
        cdef bytes line = self._line(PyByteArray_AS_STRING(self._tail), PyByteArray_GET_SIZE(self._tail))
        PyByteArray_Resize(self._tail, 0)
        return line

    def __next__(self):
        cdef const char *base
        cdef const char *found
        cdef Py_ssize_t size, start, stop
        # An iterator shared between threads on a free-threaded build must not
        # have _part replaced (and freed) while another thread scans it.
        with cython.critical_section(self):
            while True:
                base = PyBytes_AS_STRING(self._part)
                size = PyBytes_GET_SIZE(self._part)
                start = self._pos
                if start < size:
                    found = <const char *>memchr(base + start, b"\n", size - start)
                    if found != NULL:
                        stop = found - base + (1 if self._keepends else 0)
                        self._pos = found - base + 1
                        if PyByteArray_GET_SIZE(self._tail) == 0:
                            return self._line(base + start, stop - start)
                        self._append(base + start, stop - start)
                        return self._take_tail()
                    self._append(base + start, size - start)
                    self._pos = size
                part = next(self._parts, _NO_PART)
                if part is _NO_PART:
                    if PyByteArray_GET_SIZE(self._tail):
                        return self._take_tail()
                    raise StopIteration
                if type(part) is not bytes:
                    part = self._to_bytes(part)
                    if type(part) is not bytes:
                        raise TypeError(f"iter_lines: to_bytes returned {type(part).__name__}, not bytes")
                self._part = part
                self._pos = 0


def iter_lines(parts, keepends, to_bytes):
    """The lines of an iterable of byte chunks: ``fastsmr.lines`` in C.

    ``to_bytes(part)`` is called for each part that is not ``bytes`` and
    returns its bytes (or raises ``TypeError``): the caller decides what a
    part may be and how a wrong one is reported.
    """
    return _LineIterator(parts, keepends, to_bytes)


cdef dict _CHUNK_PROBLEMS = {
    FSMR_ERR_CHUNK_SIZE: "size",
    FSMR_ERR_CHUNK_SIZE_OVERFLOW: "size_overflow",
    FSMR_ERR_CHUNK_SIZE_LINE: "size_line",
    FSMR_ERR_CHUNK_LINE_END: "line_end",
    FSMR_ERR_CHUNK_DATA_END: "data_end",
    FSMR_ERR_CHUNK_LINE_LENGTH: "line_length",
    FSMR_ERR_CHUNK_DATA_LEFT: "data_left",
    FSMR_ERR_CHUNK_NO_LAST: "no_last_chunk",
}


@cython.final
cdef class ChunkedDecoder:

    cdef fsmr_chunked _dec
    cdef object _error
    cdef Py_ssize_t _unused
    cdef bint _done
    cdef bint _closed  # close() was called: feed() refuses

    def __cinit__(self):
        fsmr_chunked_init(&self._dec)

    @property
    def done(self):
        return self._done

    @property
    def unused(self):
        return self._unused

    @property
    def offset(self):
        return self._dec.offset

    def feed(self, data):
        cdef Py_buffer view
        cdef fsmr_error err
        cdef fsmr_chunked_status status = FSMR_CHUNKED_NEED_INPUT
        cdef size_t written = 0, consumed = 0
        cdef PyObject *out = NULL
        cdef bint failed, was_done, closed
        _get_bytes(data, &view)
        try:
            # The body's data is never longer than the bytes that carry it.
            out = _new_bytes(NULL, view.len)
            with cython.critical_section(self):
                closed, failed, was_done = self._closed, self._error is not None, self._done
                if closed or failed:
                    pass
                elif was_done:
                    self._unused += view.len
                else:
                    status = fsmr_chunked_decode(&self._dec, <const uint8_t *>view.buf, <size_t>view.len,
                                                 <uint8_t *>PyBytes_AS_STRING(<object>out), &written, &consumed,
                                                 &err)
                    if status == FSMR_CHUNKED_END:
                        self._done = True
                        self._unused = view.len - consumed
            if failed:
                raise self._error.with_traceback(None)
            if closed:
                raise closed_error("ChunkedDecoder", "feed")
            if status == FSMR_CHUNKED_ERROR:
                self._error = ChunkedEncodingError(_CHUNK_PROBLEMS[err.code], err.offset, err.found)
                if written == 0:
                    raise self._error
            if written == 0:
                return b""
            if written != <size_t>view.len:
                _PyBytes_Resize(&out, written)
            return <object>out
        finally:
            Py_XDECREF(out)
            PyBuffer_Release(&view)

    def close(self):
        cdef fsmr_error err
        cdef fsmr_error_code code
        self._closed = True
        if self._error is not None:
            raise self._error.with_traceback(None)
        with cython.critical_section(self):
            code = fsmr_chunked_finish(&self._dec, &err)
        if code != FSMR_OK:
            self._error = ChunkedEncodingError(_CHUNK_PROBLEMS[err.code], err.offset, err.found)
            raise self._error


include "_mux.pxi"
include "_body.pxi"
