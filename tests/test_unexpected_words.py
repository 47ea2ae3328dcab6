"""A failure the studio did not foresee (a bug) still reads as words: what failed, the error's own message, and
what to do; never a Python class name such as "RuntimeError", which tells a person nothing they can act on."""

from __future__ import annotations

from studio.chat.base import ChatParams
from studio.chat.session import StreamJob
from studio.tasks import Task


def _broken(message: str):
    def fail(*_args, **_kwargs):
        raise RuntimeError(message)
    return fail


def test_a_background_task_that_breaks_says_what_failed_in_its_own_words_and_what_to_do():
    task = Task("Merging", _broken("the folder vanished"))
    task.run()
    assert task.state == "failed"
    assert task.error.startswith("Merging failed unexpectedly (the folder vanished): try again")
    assert "RuntimeError" not in task.error and "please report it" in task.error


def test_a_key_error_s_bare_key_is_not_shown_as_the_reason():
    task = Task("Merging", lambda: {}["weights"])
    task.run()
    assert task.error == "Merging failed unexpectedly: try again, and if it happens again, please report it."


def test_a_chat_answer_that_breaks_names_the_model_and_says_what_to_do():
    answer = StreamJob("tiny-gpt2", _broken("the tokenizer lost its vocabulary"), [], ChatParams())
    answer.run()
    assert answer.state == "failed"
    assert answer.error.startswith("The answer from tiny-gpt2 failed unexpectedly (the tokenizer lost its vocabulary)")
    assert "RuntimeError" not in answer.error and "try again" in answer.error
