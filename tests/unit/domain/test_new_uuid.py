"""`new_uuid` makes what `str(uuid.uuid4())` makes: version 4, the RFC variant, the text form."""

from __future__ import annotations

import os
import uuid

from gateway.domain.ids import DECISION_ID, REQUEST_ID, matches, new_uuid


def test_it_is_a_random_version_4_uuid_in_its_text_form() -> None:
    made = {new_uuid() for _ in range(5000)}
    assert len(made) == 5000
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert matches(REQUEST_ID, text) and matches(DECISION_ID, text)
    # Every variant digit occurs (8, 9, a, b): the two bits are random, not fixed.
    assert {text[19] for text in made} == set("89ab")


def test_a_forked_child_does_not_reuse_its_parents_buffer() -> None:
    new_uuid()  # the parent has ids buffered
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.write(write, new_uuid().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert child != new_uuid()  # the parent's next one, from the buffer they shared
