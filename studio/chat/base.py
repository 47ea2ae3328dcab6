"""What every chat backend shares: the settings, the model spec, the credentials rule, the stream
statistics and the small ``ChatBackend`` interface that local and API models implement."""


from __future__ import annotations

import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlparse, urlsplit

from studio import jobs, settings
from studio.errors import BackendError, ModelSpecError
from studio.models import prompt_format
from studio.models.extractive import MAX_PASSAGE_CHARS, question_too_long
from studio.models.spec import ModelSpec, parse_spec
from studio.models.text import shows
from studio.settings import setting

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}
ROLES = ("system", "user", "assistant")

DEFAULT_LOCAL_MODEL = "microsoft/Phi-3.5-mini-instruct"
"""The tutorials' model: small enough for one consumer GPU, with a chat template."""

SYSTEM_PRESETS: dict[str, str] = {
    "Helpful assistant": prompt_format.DEFAULT_SYSTEM,
    # The tutorial's assistant, word for word in spirit: the Portuguese-only virtual assistant.
    "Portuguese assistant": "You are a helpful virtual assistant. Answer only in Portuguese.",
    "Soccer rules expert": "You are an expert on the Laws of the Game (soccer). Answer in one or two sentences.",
    "No system prompt": "",
}
DEFAULT_PRESET = "Helpful assistant"

HF_HOSTS = ("huggingface.co", "huggingface.cloud", "hf.space")
"""Hosts a Hugging Face token may be sent to (Inference Endpoints live under ``*.endpoints.huggingface.cloud``)."""


def hf_host(url: str) -> bool:
    """Whether ``url`` is Hugging Face's own (the only place a Hugging Face token may go). An address with a
    backslash or a user part is not: HTTP clients read those another way than ``urlparse`` (requests sends
    ``https://evil.example\\.hf.space`` and ``https://evil.example\\@huggingface.co`` to evil.example)."""
    url = url.strip()
    parsed = urlparse(url)
    if "\\" in url or "@" in parsed.netloc:
        return False
    host = (parsed.hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in HF_HOSTS)

BACKEND_KINDS = ("local", "provider", "openai")
TASKS = ("chat", "extractive")
BACKEND_LABELS = {
    "local": "Local model",
    "provider": "Hugging Face Inference Providers",
    "openai": "OpenAI-compatible server",
}


RAISE_TIMEOUT = "raise Timeout (s) under Sampling in the sidebar"
"""Where the Chat page (passage mode too) gives a model too slow for its timeout more time."""
FEWER_TOKENS = "ask for fewer new tokens (Max new tokens under Sampling in the sidebar)"
"""What the Chat page can do about an answer past the whole answer's bound (600 s there, not a setting)."""
RAISE_TIMEOUT_FLAG = "raise --timeout"
"""The same on the command line: ``python -m studio chat`` and ``passage`` take it."""


class TooSlowError(BackendError):
    """A model that gave nothing within its timeout, and where to give it more, in the words of where it was asked:
    its text names the Chat page's setting, ``command_line`` the flag (which ``python -m studio`` prints instead),
    ``saying(remedy)`` another place's (an evaluation's report: Evaluate's setting and flag). One text named every
    surface's: the Chat page named Evaluate's setting and flags, the command line a sidebar it has not got."""

    def __init__(self, before: str, after: str = "", flag: str = RAISE_TIMEOUT_FLAG, page: str = RAISE_TIMEOUT):
        self.before, self.after, self.flag, self.page = before, after, flag, page
        super().__init__(self.saying(page))
        self.command_line = self.saying(flag)

    def saying(self, remedy: str) -> str:
        """The text with ``remedy`` as what to raise."""
        return f"{self.before}{remedy}{self.after}"

    def __reduce__(self) -> tuple:  # rebuilt from its parts, not from the page's text
        return type(self), (self.before, self.after, self.flag, self.page)


@dataclass(frozen=True)
class ChatParams:
    """Sampling settings. The defaults are the tutorial's pipeline: 500 new tokens, temperature 0.1, sampling."""

    max_new_tokens: int = 500  # tokens in the answer, at most; 1..8192
    temperature: float = 0.1  # 0 means greedy (sampling turned off); up to 2
    do_sample: bool = True  # False: greedy decoding, temperature and top_p are ignored
    top_p: float = 1.0  # nucleus sampling: keep the smallest token set with this much probability mass
    top_k: int = 50  # local models only (transformers' default); 0 turns it off
    repetition_penalty: float = setting(
        1.0, "Local models only: above 1 makes a token already in the conversation less likely (a small model that "
        "repeats itself); 1 = off. API models do not take it.", min=1.0, max=2.0, label="Repetition penalty")
    seed: int | None = None  # a fixed seed makes sampled answers repeatable
    timeout_s: float = 60.0  # longest wait for the first token, and between two tokens, seconds
    total_timeout_s: float = 600.0  # API models: the whole answer at most, so a trickling server ends

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or not 1 <= self.max_new_tokens <= 8192:
            raise BackendError(f"max_new_tokens must be a whole number from 1 to 8192, not {self.max_new_tokens!r}.")
        if not 0.0 <= float(self.temperature) <= 2.0:
            raise BackendError(f"temperature must be between 0 and 2, not {self.temperature!r}.")
        if not 0.0 < float(self.top_p) <= 1.0:
            raise BackendError(f"top_p must be above 0 and at most 1, not {self.top_p!r}.")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise BackendError(f"top_k must be a whole number, 0 or more, not {self.top_k!r}.")
        if why := settings.problem(ChatParams, "repetition_penalty", self.repetition_penalty):
            raise BackendError(why)
        if not 1.0 <= float(self.timeout_s) <= 3600.0:
            raise BackendError(f"timeout must be between 1 and 3600 seconds, not {self.timeout_s!r}.")
        if not float(self.timeout_s) <= float(self.total_timeout_s) <= 86400.0:
            raise BackendError(f"the total timeout must be at least the timeout ({self.timeout_s:g} s) and at most "
                               f"a day, not {self.total_timeout_s!r}.")

    @property
    def sampling(self) -> bool:
        """Whether tokens are sampled: temperature 0 means greedy whatever ``do_sample`` says."""
        return self.do_sample and self.temperature > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatParams:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True, repr=False)
class Credentials:
    """Who gets which secret: the Hugging Face token goes only to Hugging Face, a key only to its server."""

    hf_token: str | None = None  # Inference Providers and Hub downloads; never sent to a base URL
    api_key: str | None = None  # the OpenAI-compatible base URL it was given for; None sends no key

    def for_kind(self, kind: str) -> str | None:
        """The secret a backend of ``kind`` may send: the API key for a base URL, else the HF token."""
        return (self.api_key or None) if kind == "openai" else (self.hf_token or None)

    def __repr__(self) -> str:  # never the values
        return f"Credentials(hf_token={'set' if self.hf_token else 'none'}, api_key={'set' if self.api_key else 'none'})"



def _reachable_form(url: str) -> bool:
    """Whether ``url`` (http or https) parses to a host and a port a client can connect to: ``http://[::1/v1``, a port
    past 65535 or a host with a space failed inside the HTTP client as "Failed to parse: ...", which said nothing of
    what to fix."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return False
    return bool(parts.hostname) and not any(c.isspace() for c in parts.netloc)

MAX_NAME_CHARS = 1_000
"""The longest API model name or provider a spec takes: a Hub id is at most 96 characters, a server's model name (a
path, a tag) a few hundred at most. A local model's is a path, bounded where it is parsed (``parse_spec``)."""
MAX_URL_CHARS = 2_048  # a base or endpoint URL: what browsers and most servers take at most


@dataclass(frozen=True)
class BackendSpec:
    """Which model answers, and how to reach it. Holds no secret: the token is passed apart."""

    kind: str = "local"  # "local", "provider" (HF Inference Providers) or "openai" (any compatible base URL)
    model: str = DEFAULT_LOCAL_MODEL  # Hub id, local folder or "run:<id>" (local); model name (API)
    quantization: str | None = None  # local only: None, "4bit" or "8bit" (CUDA only)
    provider: str = "auto"  # provider kind: "auto", "hf-inference", "together", ...
    base_url: str = ""  # openai kind: e.g. http://127.0.0.1:8000/v1; extractive provider: an endpoint URL (optional)
    task: str = "chat"  # "chat" (generate an answer) or "extractive" (pick the answer's span of a passage)
    fast_decoding: bool = False  # local chat only: static KV cache + compiled decoding step (studio.models.fast_decoding)

    def __post_init__(self) -> None:
        # trimmed once, where every base URL comes in (command line, sidebar, kept settings, evaluation): a line
        # break or spaces pasted with it split its errors over two lines and were sent with each request
        object.__setattr__(self, "base_url", (self.base_url or "").strip())
        if self.kind not in BACKEND_KINDS:
            raise BackendError(f"Unknown backend {self.kind!r}: choose local, provider or openai.")
        if self.kind in ("openai", "provider"):  # a server's model name never has spaces around it: " m" was a 404
            object.__setattr__(self, "model", (self.model or "").strip())
        if not (self.model or "").strip():
            raise BackendError("No model chosen: enter a model id (or a local folder or training run for a local model).")
        url = "base URL" if self.kind == "openai" else "endpoint URL"
        for what, text, most in (("model name", self.model if self.kind != "local" else "", MAX_NAME_CHARS),
                                 ("provider", self.provider or "", MAX_NAME_CHARS), (url, self.base_url, MAX_URL_CHARS)):
            if len(text) > most:  # a paste gone astray: it headed every answer and filled each error line
                raise BackendError(f"The {what} is {len(text):,} characters, more than the {most:,} "
                                   f"{'an' if what[0] == 'e' else 'a'} {what} may hold: check what was pasted.")
        # a tab or an escape pasted into a name or a URL was sent as typed: the server answered "model not found" for
        # a name the page drew garbled, and a URL with a tab in its path read "Cannot reach ...: check the URL"
        for what, text in (("model name", self.model), (url, self.base_url)):
            if any(unicodedata.category(c) == "Cc" for c in text):
                raise BackendError(f"The {what} {text[:80]!r} holds a control character (a tab, a line break or an "
                                   "escape): type it again without it.")
        # a server's model name, provider or URL with a text-direction control: the sidebar's field drew "probe \u202e
        # ok" as "probe ko", and the server was asked for a name the page showed in another order (as run names are)
        for what, text in (("model name", self.model if self.kind != "local" else ""), ("provider", self.provider or ""),
                           (url, self.base_url)):
            if any(c in jobs.BIDI_CONTROLS for c in text):
                raise BackendError(f"The {what} {jobs.BIDI_REFUSED}")
        if self.quantization not in (None, "4bit", "8bit"):
            raise BackendError(f"Unknown quantization {self.quantization!r}: choose none, 4bit or 8bit.")
        if self.kind == "openai" and not self.base_url.startswith(("http://", "https://")):
            raise BackendError(
                f"The base URL must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1), not {self.base_url[:80]!r}."
            )
        if self.kind == "openai" and not _reachable_form(self.base_url):
            raise BackendError(f"The base URL {self.base_url[:80]!r} names no host and port a client can reach: "
                               "check them (e.g. http://127.0.0.1:8000/v1 or http://[::1]:8000/v1).")
        if self.kind == "provider" and "://" in self.model and not (
                self.model.strip().lower().startswith("https://") and hf_host(self.model)):
            # huggingface_hub sends the Hugging Face token to a model given as a URL: never to one that is not Hugging Face's
            raise BackendError(f"{self.model.strip()[:80]!r} is a URL, not a model id: Inference Providers take a Hub id "
                               "(e.g. meta-llama/Llama-3.1-8B-Instruct); for your own server choose OpenAI-compatible "
                               "server and give it as the base URL.")
        if self.kind == "provider" and not (self.provider or "").strip():
            raise BackendError("No provider chosen: use auto to let Hugging Face pick one.")
        if self.task not in TASKS:
            raise BackendError(f"Unknown task {self.task!r}: choose chat or extractive.")
        if self.task == "extractive" and self.kind == "openai":
            raise BackendError("An OpenAI-compatible server generates answers, it does not extract them: choose a local "
                               "extractive model or Inference Providers, or ask this model as a chat model.")
        if self.fast_decoding and (self.kind != "local" or self.task != "chat"):
            raise BackendError("Fast decoding is for local models that generate: an API model or an extractive one "
                               "decodes elsewhere or not at all; turn it off.")
        if self.base_url and self.kind == "provider" and not self.base_url.startswith(("http://", "https://")):
            raise BackendError(f"The endpoint URL must start with http:// or https://, not {self.base_url[:80]!r}.")
        if self.base_url and self.kind == "provider" and not _reachable_form(self.base_url):
            raise BackendError(f"The endpoint URL {self.base_url[:80]!r} names no host and port a client can "
                               "reach: check them.")

    @classmethod
    def for_model(cls, spec: str | ModelSpec, *, base_url: str | None = None, provider: str | None = None,
                  qa_endpoint: str | None = None, quantization: str | None = None) -> BackendSpec:
        """The backend a model spec names: ``api:<id>`` through ``base_url`` (OpenAI-compatible) or Inference
        Providers, ``api:qa:<id>`` through a provider or its dedicated ``qa_endpoint``, anything else locally
        (``qa:<model>`` as an extractive one)."""
        parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
        if parsed.kind == "api-qa":
            return cls(kind="provider", model=parsed.name, provider=provider or "auto", base_url=qa_endpoint or "",
                       task="extractive")
        if parsed.kind == "api":
            if base_url and base_url.strip():
                return cls(kind="openai", model=parsed.name, base_url=base_url)
            return cls(kind="provider", model=parsed.name, provider=provider or "auto")
        return cls(kind="local", model=str(parsed), quantization=quantization,
                   task="extractive" if parsed.kind == "qa" else "chat")

    @property
    def by_url(self) -> bool:
        """An Inference Providers spec that names an address (an endpoint URL, or a model id that is one):
        a Hugging Face host may still be anyone's server (a Space, a custom Inference Endpoint)."""
        return self.kind == "provider" and bool(self.base_url or "://" in self.model)

    @property
    def label(self) -> str:
        """A short name for the model, for column headers and exports."""
        if self.task == "extractive":
            where = "local" if self.kind == "local" else (self.base_url or ("" if "://" in self.model else
                                                                            f"HF {self.provider}"))
            try:
                name = str(parse_spec(self.model).inner) if self.kind == "local" else self.model
            except ModelSpecError:  # a label never fails: loading says what is wrong with the spec
                name = self.model
            return f"{name} (extractive{', ' + where if where else ''})"  # a URL given as the model: no routing
        if self.kind == "local":
            from studio.models.library import display_name  # a run by its name, the bundled copy as such

            name, where = display_name(self.model), f"local{', ' + self.quantization if self.quantization else ''}"
            if name.endswith(")") and " (" in name and not self.model.startswith("run:"):
                # a library model's label in brackets of its own ("(bundled Q4_1 copy)"): one pair, not two in a row
                return f"{name[:-1]}, {where})"
            return f"{name} ({where})"
        if self.kind == "provider":  # a URL given as the model (a Space) is reached as it is: no provider routes it
            return self.model if "://" in self.model else f"{self.model} (HF {self.provider})"
        return f"{self.model} @ {self.base_url}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackendSpec:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


MIN_RATE_SPAN_S = 0.05  # tokens/s is shown only for tokens spread over at least this long after the first


SHORT_LABEL_CHARS = 48  # a compare column's header on one line


def short_label(label: str, most: int = SHORT_LABEL_CHARS) -> str:
    """``label`` (``BackendSpec.label``) in at most ``most`` characters, for a compare column's header: a model given
    as a path (or a Hub id) by its last part and a base URL by its host, then the middle left out where still too
    long. A long path model name wrapped the header onto two lines; the page shows the whole label on hover."""
    if len(label) <= most:
        return label
    name, at, where = label.partition(" @ ")
    if at:
        suffix = f" @ {urlsplit(where).netloc or where}"
    else:  # "name (local)", "org/name (HF auto)"
        cut = label.rfind(" (")
        name, suffix = (label[:cut], label[cut:]) if cut > 0 and label.endswith(")") else (label, "")
    name = name.rstrip("/").rsplit("/", 1)[-1] or name
    label = name + suffix
    if len(label) <= most:
        return label
    if len(suffix) <= most // 2:  # where it runs stays whole
        return name[:most - len(suffix) - 1] + "…" + suffix
    keep = most - 1
    return label[:keep // 2] + "…" + label[len(label) - (keep - keep // 2):]


def cut_note(tokens: int, flag: bool = False) -> str:
    """What is said under an answer cut at ``tokens`` new tokens (``StreamStats.cut_at``): it ends mid-sentence, and
    nothing else said why. ``flag``: the command line's words."""
    return f"Cut at {tokens} new tokens: raise {'--max-new-tokens' if flag else 'Max new tokens'} to see more."


@dataclass
class StreamStats:
    """Timing of one streamed answer; the backend fills it while streaming."""

    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    ended: float | None = None
    tokens: int = 0  # generated tokens (local: exact; API: the server's count, else one per streamed chunk)
    retries: int = 0  # API: how many times a busy server was retried before the first token
    status: str = ""  # what the backend is doing now, while it matters ("Compiling for fast decoding: ...")
    decoding: str = ""  # local: "fast decoding" (and its compile time) when the answer used it
    compile_s: float = 0.0  # local: the pause after the first token while fast decoding compiled (named in decoding)
    waited_s: float = 0.0  # local: the wait for the model while another answer used it, before this one started
    cut_at: int | None = None  # the answer was cut at this many new tokens (Max new tokens), not ended by the model

    def mark_token(self, n: int = 1) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.tokens += n

    def finish(self) -> None:
        if self.ended is None:
            self.ended = time.perf_counter()

    @property
    def ttft_s(self) -> float | None:
        """Time to first token, seconds."""
        return None if self.first_token_at is None else self.first_token_at - self.started

    @property
    def tokens_per_s(self) -> float | None:
        """Decoding speed after the first token (tokens 2..n over the time they took); after a fast-decoding
        compilation, tokens 3..n from the second token on: the pause is shown apart ("compiled in N s") and
        later answers do not pay it."""
        counted = self.tokens - (2 if self.compile_s else 1)
        if self.first_token_at is None or counted < 1:
            return None
        span = (self.ended or time.perf_counter()) - self.first_token_at - self.compile_s
        return counted / span if span > 0 else None

    def summary(self) -> str:
        parts = []
        if self.ttft_s is not None:
            parts.append(f"first token {self.ttft_s:.2f} s")
        # not for tokens that came in one burst (a server sending a short answer at once): "7306.7 tokens/s" said nothing
        if self.tokens_per_s is not None and (self.ended or time.perf_counter()) - self.first_token_at >= MIN_RATE_SPAN_S:
            parts.append(f"{self.tokens_per_s:.1f} tokens/s")
        if self.tokens:  # nothing generated (stopped or failed before the first token): no "0 tokens"
            parts.append(f"{self.tokens} token" + ("" if self.tokens == 1 else "s"))
        parts.append(self.retries_note())
        if self.waited_s >= 1:  # not in the first token's time: that is the model's own
            parts.append(f"waited {self.waited_s:.0f} s for the model")
        if self.decoding:
            parts.append(self.decoding)
        return " · ".join(p for p in parts if p)

    def retries_note(self) -> str:
        """How often a busy server was asked again before it answered ("1 retry", "3 retries"; nothing for none):
        the one wording of a conversation's stats line and a passage answer's (which read "1 retries")."""
        return "" if not self.retries else f"{self.retries} retr" + ("y" if self.retries == 1 else "ies")

    def tries_note(self, error: str | None) -> str:
        """How often a busy server was asked, under an answer that failed before its first token (it read
        "3 retries", a stats line as if it had answered): "Asked 4 times, then failed."; nothing after one try, or
        where ``error`` says it already ("still after 4 tries")."""
        tries = self.retries + 1
        return "" if tries == 1 or f"{tries} tries" in (error or "") else f"Asked {tries} times, then failed."


@runtime_checkable
class ChatBackend(Protocol):
    """What every backend does: stream an answer to a chat history."""

    name: str

    def stream(
        self,
        messages: Sequence[Message],
        params: ChatParams,
        *,
        stats: StreamStats | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer in pieces. Setting ``stop`` ends the answer early (no error)."""
        ...

    def describe(self) -> str:
        """One line for the UI: model, where it runs, notes."""
        ...


EMPTY_ANSWER = "answered only whitespace (or nothing): train longer or check the run"
"""What a page says where an answer has no visible character (a barely trained model's): an empty column or
"(empty)" read like a display fault."""


def blank(text: str | None) -> bool:
    """Whether a question or an answer shows nothing: empty, or whitespace and invisible format characters alone
    (zero-width spaces and joiners, a word joiner, a byte-order mark, a soft hyphen), as a dataset's check reads it."""
    return not shows(text or "")


CHARS_PER_TOKEN = 64
"""Most characters one new token adds (a token is a few characters, a long one a few dozen): an answer longer than
``max_new_tokens`` times this comes from a server that ignores max tokens (a broken or hostile one may stream without
end), and is cut there, before it fills the process's memory, a page's every redraw, or an evaluation's results."""


def bounded(pieces: Iterator[str], params: ChatParams) -> Iterator[str]:
    """``pieces`` (a backend's ``stream``) up to ``params.max_new_tokens * CHARS_PER_TOKEN`` characters; past that, the
    stream is closed (an API request ends at once) and a one-line ``BackendError`` says why, after what came."""
    limit, total = params.max_new_tokens * CHARS_PER_TOKEN, 0
    try:
        for piece in pieces:
            if total + len(piece) > limit:
                yield piece[: limit - total]
                raise BackendError(f"The answer was cut at {limit:,} characters: far more than {params.max_new_tokens:,} "
                                   "new tokens hold, so the server ignores max tokens. What came before is kept.")
            total += len(piece)
            yield piece
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def complete(backend: ChatBackend, messages: Sequence[Message], params: ChatParams | None = None,
             stats: StreamStats | None = None, stop: threading.Event | None = None,
             on_piece: Callable[[str], None] | None = None) -> str:
    """The whole answer as one string (for evaluation and scripts). Setting ``stop`` ends it early, as in
    ``stream``: what was written by then comes back, so a caller that stops says what that text is. ``on_piece``
    gets each piece as it comes (a page showing the answer while it streams)."""
    stats = stats if stats is not None else StreamStats()
    params = params or ChatParams()
    pieces: list[str] = []
    try:
        for piece in bounded(backend.stream(messages, params, stats=stats, stop=stop), params):
            pieces.append(piece)
            if on_piece is not None:
                on_piece(piece)
        return "".join(pieces)
    finally:
        stats.finish()


class BackendBase:
    """Shared helpers for the concrete backends."""

    name = "backend"

    def complete(self, messages: Sequence[Message], params: ChatParams | None = None,
                 stats: StreamStats | None = None) -> str:
        return complete(self, messages, params, stats)  # type: ignore[arg-type]


def validate_messages(messages: Sequence[Message]) -> list[Message]:
    """Plain ``{"role", "content"}`` dicts; the last one must be the user's."""
    clean = []
    for i, msg in enumerate(messages):
        role, content = msg.get("role"), msg.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise BackendError(f"Message {i + 1} is not a chat message (role system/user/assistant and text content).")
        clean.append({"role": role, "content": content})
    if not clean or clean[-1]["role"] != "user":
        raise BackendError("Nothing to answer: the conversation must end with a user message.")
    if blank(clean[-1]["content"]):
        raise BackendError("The message is empty (only spaces, line breaks or invisible characters): type a question first.")
    if why := question_too_long(clean[-1]["content"]):
        raise BackendError(why)
    if why := system_too_long(next((m["content"] for m in clean if m["role"] == "system"), "")):
        raise BackendError(why)
    return clean


def system_too_long(system: str) -> str:
    """Why ``system`` is too long a system prompt, in one line; "" when it is not. Bounded as a question is: a paste of
    megabytes was sent with every question, and rewritten with the page's settings at each change."""
    if len(system) <= MAX_PASSAGE_CHARS:
        return ""
    return (f"The system prompt is {len(system):,} characters, more than the {MAX_PASSAGE_CHARS:,} a system prompt may "
            "hold (no model reads that much): keep only what the model needs.")


HISTORY_CHARS = 1_000_000
"""Characters of earlier turns sent with a question at most (~250,000 tokens, past any model's window), the oldest
turns left out first: 200 turns of 1,000,000-character questions were sent whole with each new one, a request of
hundreds of MB built in the one server's memory for one visitor's question."""


OLDEST_LEFT_OUT = "its oldest turns are left out of what the model reads (Clear conversation starts afresh)."
"""How a note under an answer ends where older turns were not sent: a local model's context, any model's
``HISTORY_CHARS``; one wording, so the page says it alike (and once) whichever model left them out."""
HISTORY_TRIMMED = (f"This conversation is longer than the {HISTORY_CHARS:,} characters sent with a question: "
                   + OLDEST_LEFT_OUT)


def history_note(history: Sequence[Message], sent: Sequence[Message]) -> str:
    """``HISTORY_TRIMMED`` where ``sent`` (``build_messages``'s) holds fewer of ``history``'s turns than it has, else ""."""
    earlier = sum(1 for m in history if m.get("role") in ("user", "assistant"))
    kept = sum(1 for m in sent[:-1] if m.get("role") in ("user", "assistant"))
    return HISTORY_TRIMMED if kept < earlier else ""


def build_messages(system: str, history: Sequence[Message], user: str) -> list[Message]:
    """The messages sent to a model: the system prompt (if any), the history (its latest ``HISTORY_CHARS``, whole
    question-and-answer pairs), the new question."""
    out: list[Message] = [{"role": "system", "content": system.strip()}] if system and system.strip() else []
    earlier = [{"role": m["role"], "content": m["content"]} for m in history if m.get("role") in ("user", "assistant")]
    size, start = 0, len(earlier)
    while start > 0:  # from the latest back, a pair at a time (a user's question opens each)
        first = start - 1
        while first > 0 and earlier[first]["role"] != "user":
            first -= 1
        size += sum(len(m["content"]) for m in earlier[first:start])
        if size > HISTORY_CHARS:
            break
        start = first
    out += earlier[start:]
    out.append({"role": "user", "content": user})
    return out
