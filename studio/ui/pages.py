"""The studio's pages in one place: each page's file, title and one-line purpose. Home lists them from
here (in the order of the path through the studio) and each page sets its title from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    path: str  # relative to the app's root, as st.page_link and st.switch_page take it
    title: str  # the tab title, the page's heading and the link's first word
    purpose: str  # one line: what a person does there
    api_purpose: str | None = None  # the same in API mode (no torch); None: the page's work needs the full install

    def said(self, api_only: bool) -> str:
        """The purpose as Home writes it beside the page's link (the link itself is the title alone: a link's label is
        one line, and a label wider than the column was cut, "Train: pick a dataset version, ... launch a backg")."""
        return f"{(self.api_purpose or self.purpose) if api_only else self.purpose}."


_DATASET_PURPOSE = "create, import, edit, check, version and export Q&A datasets"  # the same in API mode
DATASET = Page("pages/1_Dataset.py", "Dataset", _DATASET_PURPOSE, _DATASET_PURPOSE)
MODELS = Page("pages/2_Models.py", "Models", "every model the studio can use; import a GGUF file, download from the "
                                             "Hub, export as GGUF (llama.cpp, Ollama, LM Studio), delete")
TRAIN = Page("pages/3_Train.py", "Train", "pick a dataset version, a base and a preset; preview; launch a background "
                                          "run; watch, stop, resume, ask")
CHAT = Page("pages/4_Chat.py", "Chat", "a local or API model, streamed; two models side by side; or a question over "
                                       "a passage",
            "an API model (Inference Providers or an OpenAI-compatible server), streamed; two side by side; or a "
            "question over a passage")
EVALUATE = Page("pages/5_Evaluate.py", "Evaluate", "base vs fine-tuned vs API models on held-out questions, side by "
                                                   "side",
                "API models on a dataset's questions, scored against its answers, side by side")
ALL = (DATASET, MODELS, TRAIN, CHAT, EVALUATE)
"""The path through the studio, in order."""


def path(api_only: bool) -> tuple[Page, ...]:
    """The pages of the path this install can walk: in API mode, those whose work needs no local model."""
    return tuple(p for p in ALL if p.api_purpose) if api_only else ALL


def full_install_only() -> tuple[Page, ...]:
    """The pages whose work needs the full install (local models, training)."""
    return tuple(p for p in ALL if not p.api_purpose)

JOB_PAGES = {"train": (TRAIN, "Training"), "evaluate": (EVALUATE, "Evaluation"), "download": (MODELS, "Download")}
"""Where a running background job of each kind is watched, and what Home calls it."""


def for_job(kind: str) -> tuple[Page, str]:
    """The page that shows a job of ``kind`` and what it is called (an unknown kind: the Models page)."""
    return JOB_PAGES.get(kind, (MODELS, kind.capitalize() or "A job"))
