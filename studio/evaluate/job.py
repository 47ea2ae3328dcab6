"""Evaluations as background jobs: ``python -m studio evaluate --job ID`` in a detached process.

The page queues a result file (``STUDIO_HOME/evals/<id>.json``, no outcome yet) and starts the
job; the job's status (``STUDIO_HOME/jobs/eval-<id>/status.json``) is the evaluation's one live state:
the worker reports progress there and saves partial results as it goes, so the page can re-attach
after a reload and a stop keeps what was done.
"""

from __future__ import annotations

import contextlib
import os
import shutil

from studio import config, jobs
from studio.errors import StudioError
from studio.evaluate import results as eval_results
from studio.evaluate.questions import load_questions
from studio.evaluate.result import EvalResult
from studio.evaluate.results import job_dir
from studio.evaluate.runner import (
    EvalConfig,
    check_installed,
    check_models_there,
    check_passages,
    check_token,
    needs_device,
    new_result,
    run_evaluation,
)

JOB_API_KEY_VAR = "STUDIO_JOB_API_KEY"
"""The job's only source of a key for the OpenAI-compatible base URL (set from the page, never inherited)."""


def start_evaluation(cfg: EvalConfig, token: str | None = None, api_key: str | None = None) -> str:
    """Queue the evaluation and run it as a background job (``python -m studio evaluate --job ID``).

    ``token`` (a Hugging Face token) reaches the job as ``HF_TOKEN`` in its environment, nowhere
    else; without it the job uses secrets or the environment as usual. ``api_key`` (typed for the
    base URL) reaches it as ``STUDIO_JOB_API_KEY``: a job sends a base URL that key or none, never
    a key the server happens to hold.
    """
    check_installed(cfg)  # a local model in API mode fails here, in one line
    check_models_there(cfg)
    check_token(cfg, token)
    check_passages(cfg, load_questions(cfg))  # bad questions fail here, with their message, before anything starts
    result = new_result(cfg)
    workdir = job_dir(result.id)  # made by the start, once its files are known to fit
    # the room for the queued result (and its evals/ folder) and the job's files is asked before any of it is written:
    # a workspace with room for the result alone took it, then was refused the job
    jobs.check_room(workdir, eval_results.room_to_save(result))
    # made by this save: taken back with it on a refusal, its own save's included (a full disk left an empty evals/)
    made = config.missing(config.evals_dir(make=False))
    try:
        eval_results.save(result)
        env = {"HF_TOKEN": token} if token else {}
        env[JOB_API_KEY_VAR] = api_key or ""  # overrides any inherited value: no key unless one was typed
        jobs.start_job("evaluate", ["evaluate", "--job", result.id], workdir, uses_device=needs_device(cfg),
                       env=env, record={jobs.TITLE: ", ".join(m.label for m in result.models)})
    except StudioError:
        with contextlib.suppress(OSError):
            eval_results.delete(result.id)
        shutil.rmtree(workdir, ignore_errors=True)  # its job folder, made for it alone: left empty, it stayed for good
        config.take_back(made)  # only while empty: another start may have saved in it since
        raise
    return result.id


def run_job(eval_id: str, token: str | None = None) -> EvalResult:
    """The job's body: run the queued evaluation ``eval_id`` (the runner reports its progress and outcome to
    the job's status).

    The base URL's key comes from ``STUDIO_JOB_API_KEY`` alone (what the page handed over).
    """
    queued = eval_results.load(eval_id)
    cfg = EvalConfig.from_dict(queued.config)
    jobs.update_status(job_dir(eval_id), state="running", pid=os.getpid(), message="starting")
    api_key = os.environ.get(JOB_API_KEY_VAR) or None
    return run_evaluation(cfg, token=token, api_key=api_key, eval_id=eval_id)


def stop_evaluation(eval_id: str) -> None:
    jobs.request_stop(job_dir(eval_id))


def job_state(eval_id: str) -> jobs.JobStatus:
    """The job's ``studio.jobs.JobStatus`` (state "none" when the evaluation ran outside a job)."""
    return jobs.read_status(job_dir(eval_id))
