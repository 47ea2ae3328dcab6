from pathlib import Path

from streamlit.testing.v1 import AppTest

from studio import config, store

HOME = str(Path(__file__).resolve().parent.parent / "Home.py")


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_home_shows_workspace_device_and_the_path():
    (config.runs_dir() / "run-1").mkdir()
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    m = metrics(at)
    assert m["Datasets"] == "1" and m["Training runs"] == "1" and m["Evaluations"] == "0"
    assert m["Device"] in ("CPU", "GPU", "API only") and m["Hub token"] == "not set"
    assert any("GiB system memory" in c.value and str(config.home()) in c.value for c in at.caption)
    assert store.list_datasets()[0].name == "Soccer rules (sample)"
    labels = [p.proto.label for p in at.get("page_link")]
    assert labels[0].startswith("Dataset: create, import, edit")


def test_token_from_secrets_is_reported_but_never_shown():
    at = AppTest.from_file(HOME, default_timeout=60)
    at.secrets["HF_TOKEN"] = "hf_verysecret"
    at.run()
    assert metrics(at)["Hub token"] == "configured"
    shown = [e.value for e in at.markdown] + [c.value for c in at.caption] + [str(m.value) for m in at.metric]
    assert not any("hf_verysecret" in s for s in shown)


def test_deleted_sample_is_not_seeded_again():
    AppTest.from_file(HOME, default_timeout=60).run()
    store.delete_dataset(store.list_datasets()[0].id)
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert metrics(at)["Datasets"] == "0"
    assert any("No datasets yet" in m.value for m in at.markdown)
