"""Hypothesis: whatever bytes a log holds, reading never raises and every line is counted."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analytics.pipeline import Options, Pipeline, finish
from analytics.read import Source

VALID = (
    b'192.0.2.1 - - [21/Oct/2026:10:00:00 +0200] "GET /a?b=c HTTP/1.1" 200 12 '
    b'"https://www.google.com/" "Mozilla/5.0 \\"x\\" Chrome/130"'
)
pieces = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(
        [VALID, b'"', b"\\", b"\\x22", b" ", b"[", b"]", b"-", b"::ffff:", b"\r", b"\x00", b"\xff"]
    ),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
lines = st.lists(st.lists(pieces, max_size=6).map(b"".join), max_size=30)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=lines, trailing_newline=st.booleans())
def test_reader_never_raises(tmp_path, lines, trailing_newline):
    path = tmp_path / "fuzz.log"
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines)
    if trailing_newline and data:
        data += b"\n"
    assume(not data.startswith(b"\x1f\x8b"))  # that is a (corrupt) gzip file: an error
    path.write_bytes(data)
    expected = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    pipeline = Pipeline(Options(on_error=lambda message: None))
    result = pipeline.run([Source("fuzz.log", path)])
    assert result.errors == []
    assert result.lines == expected
    tidy = finish(pipeline)
    requests = int(
        tidy.loc[(tidy["table"] == "_requests") & (tidy["key"] == "requests"), "count"].sum()
    )
    assert requests + result.malformed == expected
