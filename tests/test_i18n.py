"""Languages: every message translated, the language a request gets, the catalog and 422s in Chinese, and
a glyph for every character a zh-CN export may draw."""

from __future__ import annotations

import ast
import re
import warnings

import pytest
from fastapi.testclient import TestClient

import core
import core.external
from app import i18n
from app.http import pages
from app.main import create_app
from app.presets import PRESETS
from app.services import messages as collected
from core.spec import GROUPS

ZH = "zh-CN"
T = i18n.translator(ZH)
TEXTS = i18n.messages(ZH)
ERRORS = i18n.error_templates(ZH)
HAN = re.compile(r"[\u4e00-\u9fff]")


def translated(text: str) -> bool:
    return bool(TEXTS.get(text))


# --- every message has a translation ------------------------------------------------------------------

@pytest.mark.parametrize("oid", list(core.OPTIMIZERS))
def test_every_optimizer_text_is_translated(oid):
    spec = core.OPTIMIZERS[oid]
    texts = [spec.label, spec.help, GROUPS[spec.group], *(h.help for h in spec.hyperparameters)]
    assert [t for t in texts if not translated(t)] == []


@pytest.mark.parametrize("sid", list(core.SURFACES))
def test_every_surface_text_is_translated(sid):
    spec = core.SURFACES[sid]
    texts = [spec.label, spec.help, *(h.help for h in spec.params)]
    assert [t for t in texts if not translated(t)] == []


@pytest.mark.parametrize("name", list(core.SCHEDULES))
def test_every_schedule_text_is_translated(name):
    spec = core.SCHEDULES[name]
    assert [t for t in (spec.label, spec.help, *(h.help for h in spec.params)) if not translated(t)] == []


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.id)
def test_every_preset_is_translated(preset):
    assert translated(preset.title) and translated(preset.question)


def test_every_text_of_the_page_catalog_is_translated():
    # A class an operator offers by name brings its own English docstring, which no catalog can know.
    offered = set(i18n.catalog_texts([spec.as_dict() for spec in core.external.OFFERED.values()]))
    texts = i18n.catalog_texts(pages.catalog())
    assert texts and sorted({t for t in texts if not translated(t)} - offered) == []


def test_the_catalog_file_is_in_step_with_the_messages():
    """What `python -m app.services.messages` would write: no message missing, none left over, none fuzzy."""
    with i18n.po_path(ZH).open("rb") as f:
        po = collected.read_po(f)
    in_file = {(m.context, m.id) for m in po if m.id}
    wanted = {(m.context, m.id) for m in collected.collect()}
    assert sorted(wanted - in_file, key=str) == []
    assert sorted(in_file - wanted, key=str) == []
    assert [m.id for m in po if m.id and (m.fuzzy or not m.string)] == []


def test_the_extraction_finds_the_errors_core_raises():
    ids = {m.id for m in collected.errors()}
    assert "{0} = {1} is outside [{2}, {3}]" in ids  # core.engine._number's f-string
    assert "must be two numbers [x, y]" in ids  # a plain string
    assert 'must be an object such as {{"sigma": 0.1, "seed": 0}}' in ids  # braces kept as text
    assert "{0} = {1} is outside [{2}, {3}], this server's limit" in ids  # app's own


def _forwarded(node) -> bool:
    """Another error's sentence passed on (e.reason, str(e), an error item's msg), already extracted where made."""
    return (isinstance(node, ast.Attribute) and node.attr == "reason" or isinstance(node, ast.Subscript)
            or isinstance(node, ast.Call) and getattr(node.func, "id", None) == "str"
            or isinstance(node, ast.Name) and node.id == "reason")


def test_every_error_sentence_is_written_where_it_is_raised():
    """A sentence kept in a variable first (msg = f"..."; raise Invalid(loc, msg)) is one the extraction cannot
    see, and so one a Chinese request would read in English."""
    hidden = []
    for source in collected.ERROR_SOURCES:
        for path in sorted((collected.ROOT / source).rglob("*.py")):
            if path.name == "i18n.py":  # the translator itself passes sentences on
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                name = getattr(node, "func", None) and (getattr(node.func, "id", None) or getattr(node.func, "attr", None))
                at = collected.ERROR_CALLS.get(name) if isinstance(node, ast.Call) else None
                if at is not None and len(node.args) > at:
                    arg = node.args[at]
                    if collected.template_of(arg) is None and not _forwarded(arg):
                        hidden.append(f"{path.relative_to(collected.ROOT)}:{node.lineno}")
    assert hidden == []


def _plural_fields() -> dict[str, set[str]]:
    """The fields of each template that are an English plural ending ("s" or ""), by the source the
    extraction noted for them: they have no place in Chinese."""
    out = {}
    for m in collected.errors():
        out[m.id] = {"{%s}" % k for k, src in re.findall(r"\{(\d+)\}: ([^,]+)", m.note) if "plural" in src or "'s' *" in src}
    return out


PLURAL = _plural_fields()


@pytest.mark.parametrize("msgid", sorted(ERRORS))
def test_an_error_keeps_every_value_of_its_template(msgid):
    """The field, the value and the limit all stay: only the words around them change."""
    fields = {"{%s}" % n for n in i18n.placeholders(msgid)}
    kept = {"{%s}" % n for n in i18n.placeholders(ERRORS[msgid])}
    assert kept == fields - PLURAL.get(msgid, set())
    words = re.sub(r"\{\d+\}|--[\w-]+", "", msgid)  # a command-line option is a name, not a word
    assert HAN.search(ERRORS[msgid]) or not re.search(r"[a-z]{4}", words)


# "3-D" is 三维 in Chinese, a word rather than a number.
NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:\.\d+)?(?:e-?\d+)?(?!-D)")


@pytest.mark.parametrize("msgid", sorted(TEXTS))
def test_numbers_and_formulas_stay_as_they_are(msgid):
    """Every number of the English is in the translation, and so is every formula-like token (lr·λ, t^c)."""
    zh = TEXTS[msgid]
    assert [n for n in NUMBER.findall(msgid) if n not in zh] == []
    tokens = [t.rstrip(")") if t.count(")") > t.count("(") else t for t in re.findall(r"[\w.]*[=·^√/][\w.()]*", msgid)]
    assert [t for t in tokens if len(t) > 2 and t not in zh] == []


# The field writes these optimizers' names in Chinese; every other name stays as it is.
CHINESE_NAMES = {"Momentum": "动量"}


@pytest.mark.parametrize("oid", list(core.OPTIMIZERS))
def test_optimizer_names_stay_as_the_field_writes_them(oid):
    label = core.OPTIMIZERS[oid].label
    zh = T(label)
    for name in re.findall(r"[A-Z][A-Za-z0-9]*(?:-[A-Z0-9][A-Za-z0-9]*)*", label):
        assert (CHINESE_NAMES.get(name) or name) in zh, (label, zh)


# The presets whose questions come from Chinese articles and threads quote them.
QUOTED = {
    "adam_lr_decay": "Tensorflow: 关于 adam 优化器的困惑",
    "beale_race": "从 SGD 到 Adam: 深度学习优化算法概览",
    "adam_eps": "如何理解 Adam 算法",
}


@pytest.mark.parametrize("pid", sorted(QUOTED))
def test_presets_from_the_chinese_articles_quote_them(pid):
    preset = next(p for p in PRESETS if p.id == pid)
    assert QUOTED[pid] in T(preset.question)


# --- which language -------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, cookie, header, want", [
    (None, None, None, "en"),
    ("zh-CN", None, None, ZH),
    ("zh_cn", None, None, ZH),
    ("en", "zh-CN", "zh-CN", "en"),  # the link beats the cookie and the browser
    (None, "zh-CN", "en-US,en;q=0.9", ZH),  # the page's switch beats the browser
    (None, None, "zh-CN,zh;q=0.9,en;q=0.8", ZH),
    (None, None, "zh-Hans", ZH),
    (None, None, "fr-FR,fr;q=0.9,zh;q=0.5", ZH),  # the first supported one, whatever comes first
    (None, None, "en;q=0.4,zh-CN;q=0.8", ZH),  # by q, not by order
    (None, None, "zh-CN;q=0,en", "en"),  # q=0: not this one
    ("fr", None, "zh-CN", ZH),  # a language nobody supports is passed over, not refused
    (None, None, "de-DE,fr", "en"),
    (None, None, "zh-CN;q=x", "en"),  # a weight that is not a number asks for nothing
])
def test_negotiation(query, cookie, header, want):
    assert i18n.negotiate(query, cookie, header) == want


# --- the API ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def _adam(catalog):
    return next(o for o in catalog["optimizers"] if o["id"] == "adam")


def test_the_api_catalog_in_chinese(client):
    r = client.get("/api/catalog", params={"lang": ZH})
    assert r.status_code == 200 and r.headers["content-language"] == ZH
    assert "Accept-Language" in r.headers["vary"]
    adam = _adam(r.json())
    spec = core.OPTIMIZERS["adam"]
    assert adam["help"] == TEXTS[spec.help] and HAN.search(adam["help"])
    assert adam["hyperparameters"][0]["help"] == TEXTS[spec.hyperparameters[0].help]
    assert adam["rule"] == spec.rule and adam["id"] == "adam"  # LaTeX and ids are data, not text
    momentum = next(o for o in r.json()["optimizers"] if o["id"] == "momentum")
    assert momentum["label"] == "动量"
    schedules = {s["id"]: s["label"] for s in r.json()["schedules"]}
    assert schedules["cosine"] == "余弦退火"


def test_the_api_catalog_follows_the_browser_and_stays_english_by_default(client):
    assert _adam(client.get("/api/catalog").json())["help"] == core.OPTIMIZERS["adam"].help
    r = client.get("/api/catalog", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert r.headers["content-language"] == ZH and HAN.search(_adam(r.json())["help"])
    r = client.get("/api/catalog", params={"lang": "en"}, headers={"accept-language": "zh-CN"})
    assert _adam(r.json())["help"] == core.OPTIMIZERS["adam"].help


def test_the_page_catalog_in_chinese_keeps_its_data():
    en, zh = pages.catalog(), pages.catalog(ZH)
    assert zh["lang"] == ZH and en["lang"] == "en"
    assert [p["query"] for p in zh["presets"]] == [p["query"] for p in en["presets"]]
    assert zh["palette"] == en["palette"] and zh["links"] == en["links"]
    assert [v["label"] for v in zh["view_labels"]] == ["等高线", "三维曲面", "损失", "参数图"]
    assert '"lang":"zh-CN"' in pages.catalog_json(ZH)


BAD_LR = {"surface": "quadratic", "runs": [{"optimizer": "adam", "hyperparameters": {"lr": -1}}], "steps": 10}


def test_a_422_in_chinese_names_the_field_and_the_limit(client):
    lr = core.OPTIMIZERS["adam"].hyper("lr")
    en = client.post("/api/trajectories", json=BAD_LR).json()["detail"][0]
    r = client.post("/api/trajectories", params={"lang": ZH}, json=BAD_LR)
    assert r.status_code == 422 and r.headers["content-language"] == ZH
    zh = r.json()["detail"][0]
    assert zh["loc"] == en["loc"] and zh["type"] == en["type"]
    assert en["msg"] == f"hyperparameters.lr = -1 is outside [{lr.low:g}, {lr.high:g}]"
    assert zh["msg"] == f"hyperparameters.lr = -1 超出了允许范围 [{lr.low:g}, {lr.high:g}]"


def test_a_server_limit_in_chinese_by_accept_language(client):
    body = {**BAD_LR, "runs": [{"optimizer": "adam"}], "steps": 10**9}
    r = client.post("/api/trajectories", json=body, headers={"accept-language": "zh-CN"})
    msg = r.json()["detail"][0]["msg"]
    assert r.status_code == 422 and msg.startswith("steps = 1000000000 ") and "本服务器的上限" in msg, msg


def test_pydantic_errors_in_chinese_keep_their_loc(client):
    r = client.post("/api/trajectories", json={"runs": [{"optimizer": "adam"}]}, headers={"accept-language": "zh"})
    assert r.json()["detail"] == [{"loc": ["body", "surface"], "msg": "缺少此字段", "type": "missing"}]
    r = client.post("/api/trajectories", params={"lang": ZH}, json={**BAD_LR, "runs": [{"optimizer": "nope"}]})
    assert r.json()["detail"][0]["msg"].startswith("取值错误，未知的优化器 'nope'；可选：'sgd'")


def test_a_stream_past_the_compute_limit_ends_with_a_chinese_error_line():
    import json

    from app.settings import Settings, get_settings

    app = create_app()
    limits = Settings(warm_on_startup=False, max_compute_seconds=1e-9, stream_first_chunk_steps=10, stream_chunk_steps=10)
    app.dependency_overrides[get_settings] = lambda: limits
    body = {**BAD_LR, "runs": [{"optimizer": "adam"}], "steps": 5000}
    with TestClient(app) as c:
        r = c.post("/api/trajectories/stream", params={"lang": ZH}, json=body)
    last = json.loads(r.text.strip().splitlines()[-1])
    assert last == {"type": "error", "message": "计算超过了每个请求 1e-09 秒的上限；请减少步数、运行数或格子数"}


def test_a_tuning_too_large_in_chinese_names_every_factor(client):
    body = {"surface": "quadratic", "optimizers": [{"optimizer": "sgd"}, {"optimizer": "adam"}], "steps": 100,
            "num": 200_000, "noise": {"sigma": 0.1}, "seeds": 3}
    r = client.post("/api/tune", params={"lang": ZH}, json=body)
    limit = client.get("/api/catalog").json()["limits"]["max_sweep_cells"]
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "num"]
    assert r.json()["detail"][0]["msg"] == (f"200000 个学习率 x 2 个优化器 x 3 个种子 = 1200000 次运行，"
                                           f"超过了每个请求 {limit} 次的上限")


def test_an_error_no_template_made_stays_english():
    assert T.error("a sentence of no template") == "a sentence of no template"


# --- glyphs ---------------------------------------------------------------------------------------------

def _cmaps(lang):
    from fontTools.ttLib import TTCollection, TTFont
    from matplotlib import font_manager

    maps = []
    for family in i18n.font_families(lang):
        path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        fonts = TTCollection(path).fonts if path.lower().endswith(".ttc") else [TTFont(path)]
        maps.append(set(fonts[0].getBestCmap()))
    return maps


def _missing(text: str, cmaps) -> list[str]:
    drawn = set().union(*cmaps)
    # Combining marks (the hat of ε̂) are drawn on the letter before them; spaces need no glyph.
    return [c for c in text if not c.isspace() and ord(c) not in drawn and not 0x300 <= ord(c) < 0x370]


needs_font = pytest.mark.skipif(i18n.cjk_font() is None, reason="no CJK font installed (Debian: fonts-wqy-microhei; "
                                "scripts/test installs it)")


@needs_font
def test_every_character_of_every_chinese_message_has_a_glyph():
    cmaps = _cmaps(ZH)
    missing = set(_missing("".join([*TEXTS.values(), *ERRORS.values()]), cmaps))
    assert sorted(missing) == []
    assert _missing("学习率", cmaps[:1]) != []  # DejaVu Sans alone has no Han glyphs: the test can fail


def _draw_title(title: str, lang: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    with matplotlib.rc_context(i18n.font_rc(lang)), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = plt.figure(figsize=(6, 1), dpi=100)
        fig.text(0.5, 0.5, title, ha="center", va="center", fontsize=16)
        fig.canvas.draw()
        pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        plt.close(fig)
    return [str(w.message) for w in caught if "missing from" in str(w.message)], pixels


@needs_font
def test_a_chinese_export_title_is_drawn():
    title = T(next(p.title for p in PRESETS if p.id == "adam_lr_decay"))
    assert HAN.search(title)
    missing, pixels = _draw_title(title, ZH)
    assert missing == [] and (pixels < 128).any()
    missing_en, _ = _draw_title(title, "en")  # without the CJK font the same title is boxes
    assert missing_en


def test_the_image_and_the_test_script_install_the_cjk_font():
    """Installed before the image builds matplotlib's font list (with the warm-up), and by scripts/test, so
    the glyph tests above run in CI rather than skip."""
    from test_docker import instructions, warm_up_index

    steps = instructions()
    font = [i for i, (word, rest) in enumerate(steps) if word == "RUN" and "fonts-wqy-microhei" in rest]
    assert font and font[0] < warm_up_index(steps)
    assert "missing+=(fonts-wqy-microhei)" in (collected.ROOT / "scripts" / "test").read_text()
