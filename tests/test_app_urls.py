"""URL parameters are untrusted input: every page takes any query string without a traceback.

Invalid values are dropped before the widgets read them, with one notice naming each;
messages that quote user input are escaped, so they cannot carry a link or an image.
"""

from __future__ import annotations

import re
import string
import subprocess
import sys

import pytest
import tomllib
from apptest_helpers import APP, ROOT, TIMEOUT, messages, page_script
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest

from alsim.dashboard.compare_page import COMPARE_PARAMS
from alsim.dashboard.compare_page import PREFIX as CMP
from alsim.dashboard.controls import sidebar_params
from alsim.dashboard.data_page import DATA_PARAMS
from alsim.dashboard.fashion_page import FASHION_PARAMS
from alsim.dashboard.fashion_page import P as FM
from alsim.dashboard.label_page import LABEL_PARAMS
from alsim.dashboard.messages import escape_markdown
from alsim.dashboard.sweep_page import SWEEP_PARAMS
from alsim.dashboard.url import prefixed

COMPARE = page_script("Compare")
FASHION = page_script("Fashion-MNIST")
DATA = page_script("Data")
SWEEP = page_script("Sweep")
#: page -> (script to switch to, the page's URL parameters, small settings that keep runs short)
PAGES = {
    "home": (None, sidebar_params(), {}),
    "compare": (COMPARE, sidebar_params(CMP, with_strategy=False) | prefixed(COMPARE_PARAMS, CMP),
                {"cmp_seeds": "2", "cmp_n_rounds": "2", "cmp_pool_size": "300",
                 "cmp_strategies": ["entropy", "random"]}),
    "fashion": (FASHION, prefixed(FASHION_PARAMS, FM), {"fm_per_class": "5", "fm_steps": "2"}),
    "data": (DATA, DATA_PARAMS, {}),
    "sweep": (SWEEP, SWEEP_PARAMS, {}),
    "label": (page_script("Label"), LABEL_PARAMS, {}),
}
LINK = "[Session expired - sign in again](http://host/login)"


@pytest.fixture(autouse=True)
def _small_fashion(fashion_like_dir, monkeypatch):
    """The Fashion-MNIST page reads the small generated data set."""
    monkeypatch.setenv("ALSIM_DATA_DIR", str(fashion_like_dir))


def _open(page: str, query: dict) -> AppTest:
    script, _, small = PAGES[page]
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if script:
        at.switch_page(script)
    at.query_params.update({**small, **query})
    return at.run()


def _notice(at) -> str:
    assert len(at.warning) >= 1, "no notice"
    notices = [text for text in messages(at.warning) if "ignored URL parameter" in text]
    assert len(notices) == 1, messages(at.warning)
    return notices[0]


# ------------------------------------------------------------------ invalid values: dropped, named once
@pytest.mark.parametrize("page, key, value, reason", [
    ("home", "batch_size", "1e400", "must be an integer >= 1"),
    ("home", "seed", "Infinity", "must be an integer >= 0"),
    ("home", "n_rounds", "0", "must be an integer in [1, 500]"),
    ("home", "batch_size", "-5", "must be an integer >= 1"),
    ("home", "seed", "NaN", "must be an integer >= 0"),
    ("home", "batch_size", "2.5", "must be an integer >= 1"),
    ("home", "gamma", "1e400", "must be a number in [1e-06, 1000]"),
    ("home", "use_final", "maybe", "must be true or false"),
    ("home", "dataset", "nope", "must be one of digits, digits-tutorial, fashion-mnist"),
    ("home", "oracle_noise", "1", "must be a number in [0, 0.999]"),
    ("home", "annotators", "16", "must be an integer in [1, 15]"),
    ("home", "imbalance", "0.5", "must be a number in [1, 1000]"),
    ("home", "batchsize", "10", "not a setting of this page"),
    ("compare", "cmp_seeds", "1e400", "must be an integer in [1, 50]"),
    ("compare", "cmp_target", "-Infinity", "must be a number in [0, 1]"),
    ("fashion", "fm_per_class", "1e400", "must be an integer in [1, 6000]"),
    ("fashion", "fm_upper", "NaN", "must be a number in [0, 0.999]"),
])
def test_an_invalid_value_is_dropped_with_a_notice_naming_it(page, key, value, reason):
    at = _open(page, {key: value})
    assert not at.exception, [e.message for e in at.exception]
    assert f"ignored URL parameter {key}={value}: {reason}" in _notice(at)
    assert key not in at.query_params


def test_several_invalid_values_make_one_notice():
    at = _open("home", {"batch_size": "1e400", "seed": "-1", "utm_source": "mail"})
    assert not at.exception
    notice = _notice(at)
    for key in ("batch_size=1e400", "seed=-1", "utm_source=mail"):
        assert f"ignored URL parameter {key}" in notice


def test_a_multiselect_keeps_its_valid_values():
    at = _open("compare", {"cmp_strategies": ["margin", "bogus", "random"]})
    assert not at.exception and not at.error, messages(at.error)
    assert "ignored URL parameter cmp_strategies=bogus: must be one of" in _notice(at)
    assert at.multiselect(key="cmp_strategies").value == ["margin", "random"]


def test_a_long_value_is_quoted_short():
    at = _open("home", {"seed": "9" * 5000})
    assert not at.exception
    notice = _notice(at)
    assert "(5,000 characters)" in notice and len(notice) < 200


def test_valid_values_give_no_notice():
    at = _open("home", {"dataset": "digits", "initial": "random", "batch_size": "8", "seed": "3",
                        "self_training": "pseudo", "use_final": "false", "threshold_start": "0.9"})
    assert not at.exception and not at.error, messages(at.error)
    assert not at.warning, messages(at.warning)
    assert at.sidebar.number_input(key="batch_size").value == 8
    assert at.sidebar.checkbox(key="use_final").value is False


# ------------------------------------------------------------------ the table is the widgets' own definition
_WIDGET_KINDS = {"number_input": ("int", "float"), "selectbox": ("choice",), "radio": ("choice",),
                 "multiselect": ("choices",), "checkbox": ("bool",), "text_input": ("text",)}
#: Views that open the "Annotators and pool" step's conditional widgets (error model, relabel).
_ANNOTATOR_VIEWS = {"home": [{"oracle_noise": "0.1", "annotators": "3"}],
                    "compare": [{"cmp_oracle_noise": "0.1", "cmp_annotators": "3"}]}


@pytest.mark.parametrize("page, views", [
    ("home", [{}, {"kernel": "knn"}, {"model": "linear_svc"}, {"self_training": "pseudo"},
              {"self_training": "pseudo", "schedule": "list"}, {"features": "pretrained"}]),
    ("compare", [{}, {"cmp_kernel": "knn"}, {"cmp_model": "linear_svc"}, {"cmp_self_training": "pseudo"},
                 {"cmp_self_training": "pseudo", "cmp_schedule": "list"}, {"cmp_features": "pretrained"}]),
    ("fashion", [{}, {"fm_schedule": "list"}, {"fm_mode": "hybrid"}, {"fm_mode": "label spreading"}]),
])
def test_every_url_bound_widget_is_in_its_page_table_with_the_same_range(page, views):
    table = PAGES[page][1]
    seen = set()
    for view in views + _ANNOTATOR_VIEWS.get(page, []):
        at = _open(page, view)
        assert not at.exception
        for kind, allowed in _WIDGET_KINDS.items():
            for widget in at.get(kind):
                key = widget.proto.query_param_key
                if not key:
                    continue
                seen.add(key)
                param = table[key]
                assert param.kind in allowed, (key, kind, param.kind)
                if kind == "number_input":
                    assert widget.proto.min == param.minimum, key
                    assert widget.proto.max == (param.maximum if param.maximum is not None else 2**53 - 1), key
                if kind == "text_input":
                    assert widget.proto.max_chars == param.max_chars, key
    assert seen == set(table), "table entries without a widget, or widgets without an entry"


# ------------------------------------------------------------------ user text never renders as Markdown
@pytest.mark.parametrize("page, query", [
    ("home", {"self_training": "pseudo", "schedule": "list", "thresholds": LINK}),
    ("compare", {"cmp_self_training": "pseudo", "cmp_schedule": "list", "cmp_thresholds": LINK}),
    ("fashion", {"fm_schedule": "list", "fm_thresholds": LINK}),
])
def test_a_link_in_the_url_is_shown_as_text_in_the_error(page, query):
    at = _open(page, query)
    assert not at.exception
    assert len(at.error) == 1
    body = at.error[0].value
    assert re.search(r"(?<!\\)[\[\]]", body) is None, body  # every bracket escaped: no link syntax
    assert "\\[Session expired \\- sign in again\\]\\(http\\://host/login\\)" in body
    assert f"thresholds must be numbers separated by commas, got '{LINK}'" in messages(at.error)[0]


def test_a_notice_quotes_markup_as_text():
    at = _open("home", {"next": "![t](http://host/t.png)<img src=x>"})
    notice_body = next(w.value for w in at.warning if "ignored URL parameter" in w.value)
    assert re.search(r"(?<!\\)[!\[<]", notice_body) is None, notice_body
    assert "\\!\\[t\\]" in notice_body


@pytest.mark.parametrize("text, escaped", [
    (LINK, "\\[Session expired \\- sign in again\\]\\(http\\://host/login\\)"),
    ("<b>x</b> & y", "\\<b\\>x\\</b\\> \\& y"),
    ("www.x.com a@b.co $x$ :red[x] `c` *e* _u_ ~s~ # h | t",
     "www\\.x\\.com a\\@b\\.co \\$x\\$ \\:red\\[x\\] \\`c\\` \\*e\\* \\_u\\_ \\~s\\~ \\# h \\| t"),
    ("1. item\n  - nested", "1\\. item  \n\\- nested"),
    ("plain, text; 50% 'quoted' \"too\"?", "plain, text; 50% 'quoted' \"too\"?"),
])
def test_escape_markdown_golden(text, escaped):
    assert escape_markdown(text) == escaped


def test_error_and_warning_boxes_show_control_characters_as_their_escapes():
    """A right-to-left override in a message from outside (a file's column name) would flip the box's
    text, and an escape byte draws as an empty box: both are written as their escapes; a line break stays."""

    def boxes():
        from alsim.dashboard.messages import show_error, show_warning

        show_error("got x\u202ey, \x1b[31mred\nnext line")
        show_warning("got x\u202ey")

    at = AppTest.from_function(boxes, default_timeout=TIMEOUT).run()
    # the escapes' own backslashes are escaped for Markdown, so the page reads "x\u202ey" literally
    assert at.error[0].value == r"got x\\u202ey, \\x1b\[31mred  " + "\nnext line"
    assert at.warning[0].value == r"got x\\u202ey"


@given(hs.text(alphabet=hs.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=80))
@settings(max_examples=200, deadline=None, database=None)
def test_escape_markdown_keeps_the_text_and_escapes_every_marker(text):
    escaped = escape_markdown(text)
    assert re.sub(r"\\(.)", r"\1", escaped) == text.lstrip(" \t")
    unescaped_markers = re.sub(r"\\.", "", escaped)
    assert not set(unescaped_markers) & set("!#$&()*+-.:<=>@[\\]^_`{|}~")


# ------------------------------------------------------------------ .streamlit/config.toml
def test_streamlit_config_hides_error_details_and_developer_tools():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["browser"]["gatherUsageStats"] is False
    assert config["theme"]["base"] == "light"
    # streamlit reads it from the directory it is started in: the repository root
    shown = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60, check=True).stdout
    for line in ('showErrorDetails = "none"', 'toolbarMode = "viewer"', "gatherUsageStats = false"):
        assert re.search(rf"^{re.escape(line)}$", shown, re.M), line


# ------------------------------------------------------------------ fuzzing: any query string, no traceback
NASTY = ["1e400", "-1e400", "Infinity", "-Infinity", "inf", "NaN", "-5", "0", "-0", "", " ", "1.5", "0x10",
         "1_000", "٣", "１２", "🙂", "true", "None", LINK, "![t](http://host/t.png)", "<img src=x onerror=alert(1)>",
         "`x`", "$x$", ":red[x]", "%00", "9" * 400, "a" * 3000, "1e-400", "4294967296", "9007199254740993"]
_values = hs.one_of(hs.sampled_from(NASTY), hs.text(max_size=20))
_unknown_keys = hs.text(alphabet=string.ascii_letters + string.digits + "_-.", min_size=1, max_size=10)


def _queries(keys):
    key = hs.one_of(hs.sampled_from(sorted(keys)), _unknown_keys) if keys else _unknown_keys
    return hs.dictionaries(key, hs.one_of(_values, hs.lists(_values, min_size=2, max_size=3)), min_size=1, max_size=4)


def _fuzz(page):
    table = PAGES[page][1]

    @given(query=_queries(table))
    @settings(max_examples=12, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    def check(query):
        at = _open(page, query)
        assert not at.exception, (query, [e.message for e in at.exception])
        named = " ".join(text for text in messages(at.warning) if "ignored URL parameter" in text)
        for key, value in query.items():
            raw = value[-1] if isinstance(value, list) else value
            param = table.get(key)
            if key.lower() in ("embed", "embed_options"):
                continue  # Streamlit's own
            if param is None or (param.kind not in ("choice", "choices") and not param.accepts(raw)):
                assert f"ignored URL parameter {key}=" in named, (query, named)

    return check


def test_every_page_is_checked_here():
    """A new page needs its URL table (and sanitize_query_params at its top) listed in PAGES."""
    from alsim.dashboard.nav import PAGES as NAVIGATION

    scripts = {page_script(spec.url_path) for spec in NAVIGATION[1:]}
    assert scripts == {script for script, _, _ in PAGES.values() if script}
    assert {path.stem.split("_", 1)[1] for path in (ROOT / "pages").glob("*.py")} == {s.url_path for s in NAVIGATION[1:]}


@pytest.mark.parametrize("page", list(PAGES))
def test_any_query_string_renders_without_a_traceback(page):
    _fuzz(page)()
