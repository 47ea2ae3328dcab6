from studio.data import plots, stats


def test_stats_count_words_and_repeated_openings():
    recs = [{"question": "What is offside?", "answer": "A position rule."},
            {"question": "What is a corner?", "answer": "A restart from the corner arc."},
            {"question": "What is a throw-in?", "answer": "Ball back in play by hand."},
            {"question": "How long is a match?", "answer": "90 minutes."},
            {"question": "什么是点球", "answer": "罚球"}]
    s = stats.compute(recs, opening_words=2)
    assert s.count == 5
    assert s.question_words[:4] == [3, 4, 5, 5] and s.question_words[4] == 5  # CJK: one word per character
    assert s.openings == [("what is", 3)]
    assert s.mean_answer_words == sum(s.answer_words) / 5


def test_plots_are_figures_with_the_data():
    s = stats.compute([{"question": "What is it?", "answer": "x"}, {"question": "What is that?", "answer": "y z"}],
                      opening_words=2)
    lengths = plots.dataset_lengths(s)
    assert [t.name for t in lengths.data] == ["questions", "answers"]
    # answers have 1 and 2 words: one record in each of two bins, none elsewhere
    assert sum(lengths.data[1].y) == 2 and sorted(y for y in lengths.data[1].y if y) == [1, 1]
    assert [x for x, y in zip(lengths.data[0].x, lengths.data[0].y) if y] == [3.5]  # both questions: 3 words
    assert lengths.layout.yaxis.tickformat == ",d" and lengths.layout.yaxis.dtick == 1  # whole records only
    openings = plots.dataset_openings(s)
    assert list(openings.data[0].y) == ["what is"] and list(openings.data[0].x) == [2]
    # each count upright after its bar: inside a short bar ("auto") it stood on its end
    assert openings.data[0].textangle == 0 and openings.data[0].textposition == "outside"


def test_empty_dataset_stats():
    s = stats.compute([])
    assert s.count == 0 and s.mean_question_words == 0.0 and s.openings == []
