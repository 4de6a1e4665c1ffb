"""Property tests: whatever a file holds, import either accepts it or says what is wrong."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from transcripts.errors import TranscriptImportError
from transcripts.importer import import_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
KEYS = st.sampled_from(
    [
        "format",
        "version",
        "transcript",
        "entries",
        "notes",
        "seq",
        "t",
        "kind",
        "text",
        "line_kind",
        "code",
        "lines",
        "event",
        "data",
        "target",
    ]
)
ENTRY = st.dictionaries(KEYS, JSON, max_size=8)
DOC = st.fixed_dictionaries(
    {
        "format": st.sampled_from(["smtp-playground-transcript", "other"]),
        "version": st.sampled_from([1, 2, "1"]),
        "transcript": st.dictionaries(KEYS, JSON, max_size=5),
        "entries": st.lists(ENTRY, max_size=5),
        "notes": st.lists(st.dictionaries(KEYS, JSON, max_size=4), max_size=3),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_crash_the_importer(data: bytes) -> None:
    try:
        import_json(data, max_bytes=4096)
    except TranscriptImportError as exc:
        assert exc.message and exc.code in {"bad_import", "too_large"}


@settings(max_examples=300, deadline=None)
@given(DOC)
def test_documents_of_the_right_shape_are_accepted_or_refused_in_words(doc: dict) -> None:
    data = json.dumps(doc).encode()
    try:
        result = import_json(data, max_bytes=1 << 20)
    except TranscriptImportError as exc:
        assert exc.message and exc.code == "bad_import"
    else:
        # Whatever is accepted has the documented shape, so it can be stored and exported.
        assert set(result) == {"transcript", "entries", "notes"}
        assert all(isinstance(e["seq"], int) for e in result["entries"])
