"""What a warm function() reads to find its module: the code digest behind the pre-keys."""
import os

from cgraph.codegen.prekey import _describe_sources, code_digest


def _describe(folder):
    lines = []
    _describe_sources(str(folder), "", lines)
    return lines


def test_code_digest_lists_every_source_with_its_size_and_time_sorted(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "b.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "a.c.j2").write_text("int a;\n")
    (tmp_path / "pkg" / "sub" / "c.h").write_text("#define C 1\n")
    (tmp_path / "pkg" / "notes.txt").write_text("not a source")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "b.py").write_text("skipped: compiled code's folder")
    os.symlink(tmp_path / "pkg" / "sub", tmp_path / "pkg" / "link")   # not entered
    lines = _describe(tmp_path / "pkg")
    assert [line.split("\0")[0] for line in lines] == ["a.c.j2", "b.py", "sub/c.h"]
    size = (tmp_path / "pkg" / "b.py").stat()
    assert lines[1] == f"b.py\0{size.st_size}\0{size.st_mtime_ns}\0"


def test_code_digest_changes_with_an_edit(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("x = 1\n")
    before = _describe(tmp_path)
    source.write_text("x = 22\n")      # another size
    assert _describe(tmp_path) != before
    before = _describe(tmp_path)
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))   # same size, newer
    assert _describe(tmp_path) != before


def test_code_digest_is_stable_within_a_process():
    digest = code_digest()
    code_digest.cache_clear()
    assert code_digest() == digest and len(digest) == 64
