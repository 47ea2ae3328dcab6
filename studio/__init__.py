"""SLM Studio: curate Q&A datasets, train small language models, chat with them and evaluate them.

The engine lives here and never imports streamlit (only ``studio.ui`` does). Heavy libraries
(torch, transformers, huggingface_hub) are imported lazily inside the functions that need them.
"""

__version__ = "0.1.0"
