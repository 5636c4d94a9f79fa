"""AppTest tests of the Label page's "Check these": the flagged labels with the model's suggestion,
relabeling through the label store (history kept, undo), and one error box without cleanlab."""

from __future__ import annotations

import pytest
from apptest_helpers import APP, TIMEOUT, messages, page_script
from apptest_helpers import shown as shown_text
from streamlit.testing.v1 import AppTest
from test_label_flags import noisy_project, without_cleanlab  # noqa: F401 - fixtures

from alsim.labeling import checks
from alsim.labeling import projects as labeling

LABEL = page_script("Label")


def _checked_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(LABEL)
    at.query_params["label_project"] = "noisy"
    at.run()
    at.toggle(key="label_check").set_value(True)
    return at.run()


def _stored(project, item: int) -> int:
    return project.store.labels(project.id)[item].label


def test_check_these_shows_the_flagged_labels_and_relabels_through_the_store(request):
    project, items, given, wrong = request.getfixturevalue("noisy_project")
    at = _checked_page()
    assert not at.exception and not at.error, messages(at.error)
    doubts = checks.doubtful_labels(project).doubts
    shown = doubts[:8]
    names = project.class_names
    cards = [shown_text(m) for m in at.markdown if " · your label" in m.value]
    assert cards == [f"**#{d.item}** · your label: {names[d.given]}" for d in shown]
    captions = [shown_text(c) for c in at.caption if c.value.startswith("model suggests")]
    assert captions == [f"model suggests: {names[d.suggestion]} (your label's probability {d.score:.0%})"
                        for d in shown]
    first, second = shown[0], shown[1]
    assert at.selectbox(key=f"label_fix_class_{first.item}").value == first.suggestion
    at.button(key=f"label_fix_{first.item}").click()
    at.run()
    assert not at.exception and not at.error, messages(at.error)
    assert _stored(project, first.item) == first.suggestion
    changes = [c for c in project.store.history(project.id) if c.item == first.item]
    assert [c.label for c in changes] == [first.given, first.suggestion], "the earlier label stays in the history"
    assert any(f"Relabeled #{first.item}" in text for text in messages(at.success))
    # Another class than the suggestion, chosen in the card.
    other = next(c for c in range(len(names)) if c not in (second.given, second.suggestion))
    at.selectbox(key=f"label_fix_class_{second.item}").set_value(other)
    at.button(key=f"label_fix_{second.item}").click()
    at.run()
    assert _stored(project, second.item) == other
    at.button(key="label_undo").click()
    at.run()
    assert not at.exception
    assert _stored(project, second.item) == second.given, "this session's undo takes the relabel back"
    assert _stored(project, first.item) == first.suggestion


@pytest.mark.usefixtures("noisy_project", "without_cleanlab")
def test_without_cleanlab_check_these_is_one_error_box():
    at = _checked_page()
    assert not at.exception
    assert messages(at.error) == ["flagging label errors needs cleanlab, which is not installed: pip install cleanlab"]
    assert [b.key for b in at.button if b.key and b.key.startswith("label_fix_")] == []
    assert len(labeling.open_project("noisy").store.labels(labeling.open_project("noisy").id)) == 100


@pytest.fixture(autouse=True)
def _fresh_values():
    """Checks are cached per pool and labels; a test sees its own."""
    from alsim.storage.memory import shared_cache

    shared_cache("values").clear()
    yield


def test_the_live_page_states_the_flags_of_the_run_beside_the_revealed_labels():
    from alsim import Config, run_loop
    from alsim.dashboard.live import flags_table

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"oracle_noise": "0.2", "flag_label_errors": "true", "n_rounds": "2"})
    at.run()
    assert not at.exception and not at.error, messages(at.error)
    assert at.sidebar.checkbox(key="flag_label_errors").value is True
    rounds = list(run_loop(Config(oracle_noise=0.2, flag_label_errors=True, n_rounds=2)))
    last = rounds[-1]
    assert last.flags.n_wrong > 0
    expected = f"Likely wrong labels (confident learning, round {last.index}): {last.flags.sentence()}."
    assert expected in [shown_text(c) for c in at.caption]
    table = next(d.value for d in at.dataframe if "flagged and wrong" in d.value.columns)
    assert table.equals(flags_table(rounds))
    assert table["flagged and wrong"].tolist() == [r.flags.flagged_wrong for r in rounds]
