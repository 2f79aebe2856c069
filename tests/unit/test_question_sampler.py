from rlsys.question_sampler import QuestionSampler


def test_each_epoch_visits_every_question_once():
    items = list(range(10))
    sampler = QuestionSampler(items, seed=3)
    first, second = sampler.take(10), sampler.take(10)
    assert sorted(first) == items and sorted(second) == items
    assert first != second  # a new order per epoch


def test_resume_from_cursor_continues_identically():
    items = [f"q{i}" for i in range(7)]
    straight = QuestionSampler(items, seed=1)
    expected = straight.take(3) + straight.take(9)
    a = QuestionSampler(items, seed=1)
    got = a.take(3)
    resumed = QuestionSampler(items, **a.state())
    got += resumed.take(9)
    assert got == expected
