from pathlib import Path

from appofapps.app_program import run

run(Path(__file__).parent)
