from studio.dedup.clusters import Pair, connected_clusters


def test_components_join_transitively_and_sort_by_score():
    pairs = [Pair(0, 1, 91), Pair(1, 4, 88), Pair(2, 3, 99)]
    cs = connected_clusters(6, pairs)
    assert [c.members for c in cs] == [(2, 3), (0, 1, 4)]
    assert cs[1].keep == 0 and cs[1].top_score == 91


def test_choose_keep_picks_longest():
    texts = ["a", "abc", "ab"]
    cs = connected_clusters(3, [Pair(0, 1, 90), Pair(1, 2, 90)], choose_keep=lambda m: max(m, key=lambda i: len(texts[i])))
    assert cs[0].keep == 1


def test_no_pairs_no_clusters():
    assert connected_clusters(5, []) == []
