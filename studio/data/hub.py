"""Pushing a dataset to the Hugging Face Hub (private by default), with one-line errors.

The token is an argument: it is never stored, logged or put into a message.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from studio.errors import MissingTokenError, NetworkError, StudioError

Record = dict[str, object]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def check_repo_id(repo_id: str, kind: str = "dataset") -> str:
    repo_id = (repo_id or "").strip()
    if not _REPO_ID.match(repo_id):
        example = "alice/soccer-qa" if kind == "dataset" else "alice/smollm2-soccer"
        raise StudioError(f"{repo_id or 'An empty name'!s} is not a Hub {kind} id: use owner/name, e.g. {example}.")
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


@contextlib.contextmanager
def hub_errors(repo_id: str) -> Iterator[None]:
    """Hub failures as one-line errors (offline, refused token, HTTP status, no network), never the token."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    offline = NetworkError("The Hub is switched off here (HF_HUB_OFFLINE=1): unset it to push, or export a file instead.")
    if constants.HF_HUB_OFFLINE:
        raise offline
    try:
        yield
    except OfflineModeIsEnabled:
        raise offline from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise MissingTokenError(
                f"The Hub refused the token (HTTP {status}): use a token with write access to {repo_id}."
            ) from None
        raise NetworkError(f"The Hub answered HTTP {status or '?'} for {repo_id}: try again later.") from None
    except (OSError, ConnectionError) as exc:
        raise NetworkError(f"Cannot reach the Hugging Face Hub ({type(exc).__name__}): check the network and retry.") from None
    except StudioError:
        raise
    except Exception as exc:  # httpx/requests transport errors do not share a base class with OSError
        if _is_transport_error(exc):
            raise NetworkError(f"Cannot reach the Hugging Face Hub ({type(exc).__name__}): check the network and retry.") from None
        dropped = _transport_cause(exc)  # huggingface_hub wraps a failed LFS upload in a RuntimeError
        if dropped is not None:
            detail = (str(dropped).strip().splitlines() or [""])[0][:120]
            raise NetworkError(f"The connection to the Hub dropped while uploading to {repo_id} ({type(dropped).__name__}"
                               f"{': ' + detail if detail else ''}): nothing was committed; push again.") from None
        raise


def _is_transport_error(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    modules = {cls.__module__.split(".")[0] for cls in type(exc).__mro__}
    return bool(names & {"TransportError", "ConnectError", "TimeoutException", "RequestException"}) or bool(
        modules & {"httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3"}
    )


def _transport_cause(exc: BaseException) -> BaseException | None:
    """The network error behind ``exc`` (its cause or context, a few levels down), if there is one."""
    seen: set[int] = set()
    cur = exc.__cause__ or exc.__context__
    while cur is not None and id(cur) not in seen:
        if _is_transport_error(cur) or isinstance(cur, (ConnectionError, TimeoutError)):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None
