"""Pushing a dataset to the Hugging Face Hub (private by default), with one-line errors.

The token is an argument: it is never stored, logged or put into a message.
"""

from __future__ import annotations

import re

from studio.data.hub_failures import hub_errors, missing  # noqa: F401 (pushes and their callers use hub.hub_errors)
from studio.errors import MissingTokenError, StudioError

Record = dict[str, object]
# Each part: ASCII letters, digits, "_", "-" and ".", up to 96, neither starting nor ending with "-" or "." (the Hub's
# rule: huggingface_hub's validate_repo_id raised mid-push with a traceback; its \w also takes "é", which the Hub
# refuses only once the push has started).
_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"^{_PART}/{_PART}$")


def check_repo_id(repo_id: str, kind: str = "dataset") -> str:
    repo_id = (repo_id or "").strip()
    example = "alice/soccer-qa" if kind == "dataset" else "alice/smollm2-soccer"
    if not _REPO_ID.match(repo_id):
        raise StudioError(f"{repo_id or 'An empty name'!s} is not a Hub {kind} id: use owner/name (ASCII letters, "
                          f"digits, -, _ and ., not starting or ending in - or .), e.g. {example}.")
    if "--" in repo_id or ".." in repo_id or repo_id.endswith(".git"):
        raise StudioError(f"{repo_id} is not a Hub {kind} id: the Hub takes no -- or .. in a name, nor one ending in "
                          f".git; e.g. {example}.")
    return repo_id


def require_token(token: str | None) -> str:
    if not token:
        raise MissingTokenError(
            "No Hugging Face token: add HF_TOKEN to .streamlit/secrets.toml (the pages) or the environment (the pages "
            "and the command line), then push again."
        )
    return token


def dataset_card(records: list[Record], name: str, version: int | None = None, sha256: str | None = None,
                 history: list[str] | None = None) -> str:
    """A README.md for the dataset repo: size, fields, the version and its hash, how it was de-duplicated."""
    fields: list[str] = []
    for r in records:
        fields += [k for k in r if k not in fields]
    dedup = [m for m in history or [] if m.startswith("dedup:")]
    size = "n<1K" if len(records) < 1000 else "1K<n<10K" if len(records) < 10_000 else \
        "10K<n<100K" if len(records) < 100_000 else "100K<n<1M" if len(records) < 1_000_000 else "n>1M"
    lines = ["---", "task_categories: [question-answering, text-generation]", f"size_categories: [{size}]",
             "tags: [slm-studio]", "---", "", f"# {name}", "",
             f"{len(records):,} question-and-answer records, curated with SLM Studio.", "",
             "| | |", "|---|---|", f"| records | {len(records):,} |", f"| fields | {', '.join(fields)} |"]
    if version is not None:
        lines.append(f"| version | {version} |")
    if sha256:
        lines.append(f"| SHA-256 of the version | `{sha256}` |")
    lines += ["", "## De-duplication", ""]
    lines += [f"- {m[len('dedup:'):].strip()}" for m in dedup] or ["Not de-duplicated in the studio."]
    lines += ["", "## Loading", "", "```python", "from datasets import load_dataset",
              f'ds = load_dataset("REPO_ID", split="train")  # fields: {", ".join(fields[:4])}', "```", ""]
    return "\n".join(lines)


def push_to_hub(records: list[Record], repo_id: str, token: str | None, private: bool = True,
                card: str | None = None) -> str:
    """Upload ``records`` as a dataset repo (Parquet) with ``card`` as its README and return its URL.
    Raises MissingTokenError or NetworkError."""
    repo_id = check_repo_id(repo_id)
    require_token(token)
    if not records:
        raise StudioError("The dataset is empty: add records before pushing it.")
    from datasets import Dataset  # heavy: only when pushing
    from huggingface_hub import constants

    from studio.data import writers

    with hub_errors(repo_id):
        # The export's table: every field any record has (from_list took its columns from the first record alone),
        # a field of mixed kinds as text (from_list refused it).
        Dataset(writers.parquet_table(records)).push_to_hub(repo_id, token=token, private=private)  # Parquet shards
        if card:
            from huggingface_hub import HfApi

            HfApi(token=token).upload_file(path_or_fileobj=card.replace("REPO_ID", repo_id).encode("utf-8"),
                                           path_in_repo="README.md", repo_id=repo_id, repo_type="dataset",
                                           commit_message="Dataset card")
    return f"{constants.ENDPOINT.rstrip('/')}/datasets/{repo_id}"
