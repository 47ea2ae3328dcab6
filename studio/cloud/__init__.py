"""A public deployment (Streamlit Community Cloud): per-visitor workspaces, their Hub sync, and the
limits on the deployer's token. Nothing here imports streamlit (``studio.ui.cloud`` is the page side)."""
