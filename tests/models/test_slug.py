"""One slug rule (``studio.models.text.slug``) for run ids, dataset ids and library names."""

from __future__ import annotations

from studio.data import store
from studio.models import library, text
from studio.train import runs


def test_the_three_names_spell_a_letter_without_an_accent_alike():
    """Three rules: a run id spelt "Øl" as "ol", a dataset id and a library name dropped the letter ("l", "rsted")."""
    assert runs.slug("Straße Øl") == "strasse-ol"
    assert store.create_dataset("Straße Øl", []).id == "strasse-ol"
    assert library.default_name("Ørsted FAQ.gguf") == "Orsted-FAQ"
    assert text.slug("Ünïcødé run", lower=False) == "Unicode-run"


def test_a_dataset_named_in_another_script_gets_an_id_of_its_own_name_not_dataset_2():
    """Every name in another script made the id "dataset", then "dataset-2", ...: nothing in the folder's name said
    which was which, as a run id and a library name do with a hash of the name."""
    first, second = store.create_dataset("Обучение", []), store.create_dataset("Прогон", [])
    assert first.id == f"dataset-{text.slug('Обучение')}" and second.id == f"dataset-{text.slug('Прогон')}"
    assert runs.slug("Обучение") == text.slug("Обучение")  # the same hash in a run's id


def test_a_slug_is_stable_bounded_and_never_ends_in_a_dash():
    assert text.slug("x" * 60 + " y", limit=48) == "x" * 48
    assert text.slug("a" * 47 + " b") == "a" * 47  # cut at 48: no "-" left at the end
    assert text.slug("🚀") == text.slug("🚀") != text.slug("🛸")  # symbols alone: a hash, one per name
    assert text.slug("   ") == "" and runs.slug("   ") == "run" and store._slug("   ") == "dataset"
