"""Evaluate: base vs fine-tuned vs API models on held-out questions, side by side."""

from studio import ui
from studio.ui import evaluate as evaluate_ui
from studio.ui import pages

ui.page_setup(pages.EVALUATE.title)
evaluate_ui.render()
