"""Driving the console command on a real pseudo-terminal, as a person at a keyboard would."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Sequence

from engine_helpers import CONSOLE


def on_terminal(
    args: Sequence[str], answer: str, *, env: dict[str, str], wait_for: str, timeout: float = 120
) -> tuple[int, str]:
    """Run ``appofapps <args>`` with a pty as stdin/stdout/stderr, type ``answer`` once ``wait_for`` shows."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [str(CONSOLE), *args], stdin=child, stdout=child, stderr=child, env=env, close_fds=True
    )
    os.close(child)
    seen = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and wait_for.encode() in seen:
                os.write(main, answer.encode() + b"\n")
                answered = True
            if process.poll() is not None and not ready:
                break
        else:
            process.kill()
            raise AssertionError(f"timed out; the terminal showed:\n{seen.decode(errors='replace')}")
    finally:
        os.close(main)
    code = process.wait(timeout=timeout)
    assert answered, f"the prompt {wait_for!r} never showed:\n{seen.decode(errors='replace')}"
    return code, seen.decode(errors="replace").replace("\r\n", "\n")
