"""Sans-I/O text helpers over payload parts: lines, Server-Sent Events and generated text."""
