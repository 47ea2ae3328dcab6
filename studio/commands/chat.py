"""``python -m studio chat``: one message to a model, the answer streamed to stdout."""

from __future__ import annotations

import argparse
import os
import sys

from studio import config, settings
from studio.chat import (
    DEFAULT_LOCAL_MODEL,
    BackendSpec,
    ChatParams,
    StreamStats,
    build_messages,
    make_backend,
    served_names,
)
from studio.chat.base import bounded, cut_note
from studio.data.display import TerminalStream
from studio.errors import StudioError
from studio.models import fast_decoding


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "chat", help="send one message to a local or API model and stream the answer",
        description="Stream a model's answer to MESSAGE. API models by default (Hugging Face Inference "
                    "Providers, or --base-url for any OpenAI-compatible server); --local loads the model here.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--base-url", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    where.add_argument("--provider", help="Inference Provider: auto (default), hf-inference, together, ...")
    where.add_argument("--local", action="store_true", help="load the model in this process (id, folder or run:<id>)")
    p.add_argument("--model", help=f"model id (default for --local: {DEFAULT_LOCAL_MODEL})")
    p.add_argument("--system", default="", help="system prompt")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for the first token, and between two tokens (default 60)")
    p.add_argument("--total-timeout", type=float,
                   help="API models: seconds the whole answer may take (default 600, at least --timeout)")
    p.add_argument("--max-new-tokens", type=int, default=ChatParams.max_new_tokens)
    p.add_argument("--temperature", type=float, default=ChatParams.temperature)
    # made from ChatParams' own description, as the page's slider is (studio.settings)
    settings.add_flags(p, ChatParams, skip=[f for f in ChatParams.__dataclass_fields__ if f != "repetition_penalty"])
    p.add_argument("--quantization", choices=["4bit", "8bit"], help="--local on a CUDA GPU only")
    p.add_argument("--fast-decoding", action="store_true", help=f"--local only; {fast_decoding.FLAG_HELP}")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the --base-url server's key (default OPENAI_API_KEY); "
                        "the Hugging Face token is never sent to a base URL")
    p.add_argument("--stats", action="store_true", help="print time to first token and tokens/s on stderr")
    p.add_argument("message", help="what to ask")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.fast_decoding and not args.local:
        raise_usage("--fast-decoding is for --local models: an API model decodes on its server")
    if args.quantization and not args.local:  # it was dropped without a word: an API model is quantized by its server
        raise_usage("--quantization is for --local models on a CUDA GPU: an API model runs as its server serves it")
    if args.repetition_penalty is not None and not args.local:  # not sent to a server: said, not dropped
        raise_usage("--repetition-penalty is for --local models: API models do not take it")
    if args.local:
        spec = BackendSpec(kind="local", model=args.model or DEFAULT_LOCAL_MODEL, quantization=args.quantization,
                           fast_decoding=args.fast_decoding)
        token = config.hf_token()
    elif args.base_url:
        token = os.environ.get(args.api_key_env) or None
        model = args.model
        if not model:  # the one model the server serves (``transformers serve`` names it by its folder)
            BackendSpec(kind="openai", model="-", base_url=args.base_url)  # a URL that is not one: said as such
            names = served_names(args.base_url, token)
            if len(names) != 1:
                raise_usage("--model is required with --base-url"
                            + (f"; the server serves: {', '.join(names)}" if names else ""))
            model = names[0]
        spec = BackendSpec(kind="openai", model=model, base_url=args.base_url)
    else:
        if not args.model:
            raise_usage("--model is required (a Hub id served by Inference Providers)")
        spec = BackendSpec(kind="provider", model=args.model, provider=args.provider or "auto")
        token = config.hf_token()
    total = args.total_timeout if args.total_timeout is not None else max(args.timeout, ChatParams.total_timeout_s)
    params = ChatParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature, timeout_s=args.timeout,
                        total_timeout_s=total, **settings.overrides(args, ChatParams, skip=(
                            f for f in ChatParams.__dataclass_fields__ if f != "repetition_penalty")))
    backend = make_backend(spec, token)
    for note in getattr(backend, "notes", []):
        if note.startswith("Fast decoding"):  # asked for and not possible: say why, answer as usual
            print(f"note: {note}", file=sys.stderr)
    if getattr(backend, "fast_decoding", False):
        print(f"note: {fast_decoding.COMPILING}", file=sys.stderr)
    stats = StreamStats()
    wrote = False
    terminal = TerminalStream()  # a \r\n split across two pieces is still a line end
    try:
        for piece in bounded(backend.stream(build_messages(args.system, [], args.message), params, stats=stats), params):
            sys.stdout.write(terminal.feed(piece))
            sys.stdout.flush()
            wrote = wrote or bool(piece)
    except StudioError:
        if wrote:  # the text that came ends its line: the error read "Halferror: ..." on a terminal
            sys.stdout.write(terminal.end() + "\n")
            sys.stdout.flush()
        raise
    sys.stdout.write(terminal.end() + "\n")
    if stats.cut_at:  # it ends mid-sentence: said on stderr, apart from the answer
        print(f"note: {cut_note(stats.cut_at, flag=True)}", file=sys.stderr)
    if args.stats:
        print(stats.summary(), file=sys.stderr)
    return 0


def raise_usage(message: str) -> None:
    raise StudioError(message)
