"""shop.files: a file is replaced whole or not at all, for analytics and the handler alike."""

from __future__ import annotations

import grp
import os

import pytest
from e2e.harness import load_render

from repairs import mail
from shop.files import partial_path, replaced_whole, write_whole


def test_a_failed_write_leaves_the_old_file_and_no_part(tmp_path):
    target = write_whole(tmp_path / "stats.json", "old")
    with pytest.raises(RuntimeError), replaced_whole(target) as sink:
        sink.write(b"half of the new")
        raise RuntimeError("the run fails halfway")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_mode_and_durable_write(tmp_path):
    key = write_whole(tmp_path / "key", b"secret", mode=0o600, durable=True)
    assert key.read_bytes() == b"secret" and key.stat().st_mode & 0o777 == 0o600
    assert not partial_path(key).exists()


def test_a_mail_file_is_written_through_the_helper(tmp_path):
    msg = mail.EmailMessage()
    msg["Subject"] = "R-2026-0001"
    msg.set_content("Hallo")
    mail.write_eml(tmp_path / "000001.eml", msg)
    assert [p.name for p in tmp_path.iterdir()] == ["000001.eml"]
    assert b"R-2026-0001" in (tmp_path / "000001.eml").read_bytes()


def test_the_stats_password_file_is_written_whole_for_its_group(tmp_path):
    render = load_render()
    target = tmp_path / "stats.passwd"
    group = grp.getgrgid(os.getgid()).gr_name  # one the user may give files to
    render.write_password_file(target, "owner", "hash", group)
    assert target.read_text() == "owner:hash\n" and target.stat().st_mode & 0o777 == 0o640
    with pytest.raises(render.RenderError, match="cannot give the file to group"):
        render.write_password_file(target, "helper", "other", "no-such-group")
    assert target.read_text() == "owner:hash\n"
    assert list(tmp_path.iterdir()) == [target]
