"""Evaluate: base vs fine-tuned vs API models on held-out questions, side by side."""

from studio import ui
from studio.ui import evaluate as evaluate_ui

ui.page_setup("Evaluate")
evaluate_ui.render()
