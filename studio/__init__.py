"""SLM Studio: curate Q&A datasets, train small language models, chat with them and evaluate them.

The engine lives here and never imports streamlit (only ``studio.ui`` does). Heavy libraries
(torch, transformers, huggingface_hub) are imported lazily inside the functions that need them.
"""

from studio.quiet import quiet_libraries

__version__ = "0.1.0"

# Every process that runs the studio (the pages' server, the CLI, background jobs) imports this package
# before any library: the one place to keep bitsandbytes' and kernels' warnings out of the user's view.
quiet_libraries()
