"""`assay sandbox run` and `assay sandbox doctor` as a user calls them."""

from __future__ import annotations

from assay.cli.main import main


def test_sandbox_run_prints_output_and_flags(bwrap_ready, capsys):
    code = main(["sandbox", "run", "--backend", "bwrap", "--wall-s", "0.5", "--", "sh", "-c", "echo hi; sleep 5"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "hi\n" and "timed_out" in err and "exit -9" in err


def test_sandbox_run_without_a_command_is_one_line_error(capsys):
    assert main(["sandbox", "run"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_sandbox_run_with_absurd_limits_is_one_line_error(capsys):
    assert main(["sandbox", "run", "--wall-s", "-1", "--", "true"]) == 2
    assert "wall_s" in capsys.readouterr().err


def test_doctor_reports_every_backend(bwrap_ready, capsys):
    assert main(["sandbox", "doctor"]) == 0
    out = capsys.readouterr().out
    assert "bwrap   works" in out and "docker" in out and "auto -> " in out
