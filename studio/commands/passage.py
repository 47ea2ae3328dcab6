"""``python -m studio ask-context MODEL --context TEXT "question"``: a question over a passage.

MODEL is any model the studio answers with: an extractive one (``qa:<model>``, a local folder built for
question answering, or ``api:qa:<model id>`` on Inference Providers) gives a span of the passage with
its score; a generative one (a local model, ``run:<id>``, ``api:<model id>``) is asked with the passage
in its prompt, and the command says whether its answer occurs in the passage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from studio import config
from studio.chat import BackendSpec, ChatParams
from studio.data.display import for_terminal
from studio.errors import StudioError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ask-context", help="ask a question about a passage (extractive or generative model)",
        description="Answer QUESTION from a passage. Extractive models (qa:MODEL, a local question-answering "
                    "folder, api:qa:MODEL) return a span of it with a score; generative models (a local model, "
                    "run:ID, api:MODEL) are asked with the passage in the prompt.",
    )
    p.add_argument("model", metavar="MODEL", help="qa:deepset/roberta-base-squad2, api:qa:MODEL, run:ID, api:MODEL, ...")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--context", help="the passage, as text")
    src.add_argument("--context-file", help="a UTF-8 text file holding the passage")
    p.add_argument("question", help="what to ask about the passage")
    p.add_argument("--provider", default="auto", help="Inference Provider for api: models (default auto)")
    p.add_argument("--endpoint", help="api:qa: models: a dedicated endpoint URL taking the question-answering request")
    p.add_argument("--base-url", help="api: generative models: an OpenAI-compatible endpoint (.../v1)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable with the key for --endpoint/--base-url when it is not Hugging Face's")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the answer (default 60)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="generative models: answer length at most")
    p.add_argument("--json", action="store_true", help="print the answer, offsets and score as JSON")
    p.set_defaults(func=run)


def read_passage(args: argparse.Namespace) -> str:
    if args.context_file:
        from studio.models import extractive

        path = Path(args.context_file).expanduser()
        try:
            if path.exists() and not path.is_file():  # a folder; /dev/zero never ends, a FIFO waits for a writer
                raise StudioError(f"{str(path)!r} is not a regular file: give a UTF-8 text file holding the passage.")
            size = path.stat().st_size
            if size > 4 * extractive.MAX_PASSAGE_CHARS:  # more characters than allowed even at 4 bytes each: not read
                raise StudioError(f"{str(path)!r} is {size / 2**20:,.1f} MB, more than a passage may hold "
                                  f"({extractive.MAX_PASSAGE_CHARS:,} characters): keep only the part the question "
                                  "is about.")
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise StudioError(f"No passage file {str(path)!r}: check the path.") from None
        except UnicodeDecodeError:
            raise StudioError(f"{str(path)!r} is not UTF-8 text: save the passage as UTF-8 and try again.") from None
        except OSError as exc:
            raise StudioError(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    return args.context


def spec_for(model: str, args: argparse.Namespace) -> BackendSpec:
    """The backend a MODEL argument names (the same forms as ``evaluate``)."""
    from studio.models import extractive

    bspec = BackendSpec.for_model(model, base_url=args.base_url, provider=args.provider, qa_endpoint=args.endpoint)
    if bspec.kind == "local" and bspec.task == "chat" and extractive.is_extractive(model):
        return BackendSpec(kind="local", model=bspec.model, task="extractive")  # a local folder built for it
    return bspec


def run(args: argparse.Namespace) -> int:
    from studio.chat import passage as passage_qa

    context = read_passage(args)
    spec = spec_for(args.model.strip(), args)
    token = passage_qa.token_for(spec, config.hf_token(), os.environ.get(args.api_key_env) or None)
    params = ChatParams(max_new_tokens=args.max_new_tokens, temperature=0.0, do_sample=False, timeout_s=args.timeout,
                        total_timeout_s=max(args.timeout, ChatParams.total_timeout_s))
    from studio.models import extractive

    extractive.check_passage(args.question, context)
    backend = passage_qa.make_passage_backend(spec, token)
    ans = backend.answer(args.question, context, params)
    if args.json:
        print(json.dumps({"answer": ans.text, "start": ans.start, "end": ans.end, "score": ans.score,
                          "extractive": ans.extractive, "found_in_passage": ans.found}, ensure_ascii=False))
        return 0
    print(for_terminal(ans.text))
    where = (f"found in the passage at characters {ans.start}-{ans.end}" if ans.found
             else "not found in the passage")
    score = f" · score {ans.score:.3f}" if ans.score is not None else ""
    print(f"{where}{score}", file=sys.stderr)
    return 0
