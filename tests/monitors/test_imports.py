"""Data flows telemetry → monitors → notifications: monitors never imports notifications."""

from __future__ import annotations

import ast
from pathlib import Path

import monitors


def test_no_monitors_module_imports_notifications() -> None:
    package = Path(monitors.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.relative_to(package)}: {name}" for name in names if name.split(".")[0] == "notifications"]
    assert offenders == []
