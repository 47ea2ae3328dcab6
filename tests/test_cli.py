import subprocess
import sys

from studio.__main__ import main


def test_unknown_command_is_one_line_exit_2(capsys):
    try:
        main(["no-such-command"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_module_runs_as_cli():
    out = subprocess.run([sys.executable, "-m", "studio", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "python -m studio" in out.stdout
