"""What a question is sent with: the conversation before it, bounded (the latest turns first)."""

from __future__ import annotations

from studio.chat import base


def test_a_long_conversation_sends_its_latest_turns_that_fit_whole_pairs_only():
    big = "x" * 400_000
    history = [m for i in range(200) for m in ({"role": "user", "content": f"{i}{big}"},
                                              {"role": "assistant", "content": f"answer {i}"})]
    sent = base.build_messages("Be brief.", history, "And now?")
    assert sent[0] == {"role": "system", "content": "Be brief."} and sent[-1] == {"role": "user", "content": "And now?"}
    earlier = sent[1:-1]
    # two pairs fit in 1,000,000 characters (three would not): the latest two, each whole, in order
    assert [m["content"][:10] for m in earlier] == ["198" + "x" * 7, "answer 198", "199" + "x" * 7, "answer 199"]
    assert sum(len(m["content"]) for m in earlier) <= base.HISTORY_CHARS
    short = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}] * 3
    assert base.build_messages("", short, "q")[:-1] == short  # a conversation that fits goes whole


def test_a_last_turn_longer_than_the_bound_leaves_the_question_alone():
    history = [{"role": "user", "content": "y" * (base.HISTORY_CHARS + 1)}, {"role": "assistant", "content": "ok"}]
    assert base.build_messages("", history, "q") == [{"role": "user", "content": "q"}]
