"""Languages: every message translated, the language a request gets, the catalog and 422s in Chinese, and
a glyph for every character a zh-CN export may draw."""

from __future__ import annotations

import ast
import html
import re
import warnings

import numpy as np
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
    """Another error's sentence passed on (e.reason, str(e), an error item's msg, t.error(message) translating one),
    already extracted where made."""
    return (isinstance(node, ast.Attribute) and node.attr == "reason" or isinstance(node, ast.Subscript)
            or isinstance(node, ast.Call) and getattr(node.func, "id", None) == "str"
            or isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "error"
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


# --- the page's own words ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(collected.SCRIPTS.rglob("*.js")), ids=lambda p: p.name)
def test_every_script_text_is_written_where_it_is_translated(path):
    """t(...) in a script takes its English as one double-quoted literal, or the extraction cannot see it."""
    assert collected.unextracted_script_calls(path) == []


def test_the_extraction_reads_templates_and_scripts():
    where = {}
    for m in collected.page_messages():
        where.setdefault(m.id, set()).add(m.where[0])
    assert where["Share & export"] == {"templates/index.html"}
    # The timeline's counter: one message, whether the template or the player writes it.
    assert where["step {0} / {1}"] == {"templates/_timeline.html", "static/js/player.js"}
    assert where["Tune lr"] == {"static/js/tune.js"}
    assert where["{0} — step {1} / {2}"] == {"app/exports/scene.py"}
    scripts = {m.id for m in collected.page_messages() if m.where[0].startswith("static/js/")}
    # Each message a script writes reaches the page, translated; none the scripts do not write.
    assert set(i18n.script_messages(ZH)) == scripts and all(HAN.search(T(s)) for s in scripts if re.search("[a-z]{3}", s))


def _page(client, path="/", **kwargs):
    r = client.get(path, **kwargs)
    assert r.status_code == 200
    return r, re.search(r'<html lang="([^"]+)"', r.text).group(1)


@pytest.mark.parametrize("path", ["/", "/embed"])
def test_the_page_speaks_the_language_the_link_the_cookie_or_the_browser_asks_for(client, path):
    query = "surface=beale&opt=adam"
    r, lang = _page(client, f"{path}?{query}&lang=zh-CN")
    assert lang == ZH and r.headers["content-language"] == ZH
    assert "Cookie" in r.headers["vary"]
    messages = re.search(r'<script type="application/json" id="messages">(.*?)</script>', r.text).group(1)
    assert '"lang":"zh-CN"' in messages and "第 {0} / {1} 步" in messages
    assert "速度" in r.text and ">Speed" not in r.text
    assert _page(client, f"{path}?{query}", headers={"cookie": "lang=zh-CN"})[1] == ZH
    assert _page(client, f"{path}?{query}", headers={"accept-language": "zh-TW,zh;q=0.9"})[1] == ZH
    # The link wins over the cookie: a shared link opens in the language it was made in.
    assert _page(client, f"{path}?{query}&lang=en", headers={"cookie": "lang=zh-CN"})[1] == "en"
    r, lang = _page(client, f"{path}?{query}")
    assert lang == "en" and ">Speed" in r.text and "速度" not in r.text


def test_the_switch_links_to_the_same_view_in_each_language(client):
    r, _ = _page(client, "/?surface=beale&opt=adam,sgd&adam.lr=0.1&lang=zh-CN")
    links = {html.unescape(href): lang for href, lang in re.findall(r'<a href="([^"]+)" hreflang="([^"]+)"', r.text)}
    assert links == {"?surface=beale&opt=adam%2Csgd&adam.lr=0.1&lang=en": "en"}
    assert '<span lang="zh-CN" aria-current="true">简体中文</span>' in r.text


def test_the_links_language_is_a_display_key():
    from app.state import query_from_request, request_from_query

    body = request_from_query("surface=beale&opt=adam&lang=zh-CN")
    assert body["lang"] == ZH and "runs" in body
    assert query_from_request(body).endswith("&lang=zh-CN")
    # A language this server lacks is named, as a bad view is (the page names it too, and keeps its own).
    with pytest.raises(core.InvalidInput, match="lang: unknown language 'fr'; allowed: en, zh-CN"):
        request_from_query("surface=beale&opt=adam&lang=fr")
    assert "lang" not in query_from_request(request_from_query("surface=beale&opt=adam"))


# --- exports in the link's language ------------------------------------------------------------------------

QUERY = "surface=beale&opt=adam,sgd,momentum&steps=60&start=1,1.5&sgd.lr=0.2"


def _scene(lang, query=QUERY):
    from app.exports.link import scene_from_state
    from app.settings import get_settings

    return scene_from_state(query, get_settings(), lang=lang)[0]


def _frames(lang, fmt="png", **given):
    from app.exports.animation import frames_for
    from app.exports.formats import make_options

    scene = _scene(lang)
    opts = make_options(fmt, "contour", width=640, height=360, annotate=True, lang=lang, **given)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = frames_for(scene, opts)
        pixels = frames.frame(scene.steps).copy()
    assert [str(w.message) for w in caught if "missing from" in str(w.message)] == []  # no boxes for glyphs
    return scene, opts, frames, pixels


def _texts(frames) -> list:
    from matplotlib.text import Text

    return [a for a in frames.fig.findobj(Text) if a.get_visible() and a.get_text().strip()]


def _title_box(frames):
    """The title's pixel rows and columns in the frame (numpy's order, from the top)."""
    box = frames.title.get_window_extent()
    top = frames.height - int(box.y1) - 1
    return slice(max(top, 0), frames.height - int(box.y0) + 1), slice(int(box.x0), int(box.x1) + 1)


def _font_cmaps(families) -> list[set]:
    """The characters of each font a text artist's family list names, in matplotlib's order of fallback."""
    from fontTools.ttLib import TTCollection, TTFont
    from matplotlib import font_manager

    maps = []
    for family in families:
        path = font_manager.findfont(font_manager.FontProperties(family=family))
        fonts = TTCollection(path).fonts if path.lower().endswith(".ttc") else [TTFont(path)]
        maps.append(set(fonts[0].getBestCmap()))
    return maps


@needs_font
def test_every_character_a_chinese_export_draws_has_a_glyph_in_its_font():
    scene, _, frames, _ = _frames(ZH, subtitle="学习率 0.01")
    # The runs' legend texts are drawn into each frame, not into the background the figure keeps.
    texts = [*_texts(frames), *frames.legend_texts]
    drawn = " ".join(a.get_text() for a in texts)
    # What the export draws is the catalog's Chinese: its title, the runs' and the landmarks' legend.
    assert T("{0} — step {1} / {2}", "Beale", scene.steps, scene.steps) in drawn
    assert all(T(w) in drawn for w in ("Momentum", "minimum", "saddle point", "start"))
    for artist in texts:
        families = artist.get_fontfamily()
        if HAN.search(artist.get_text()):
            assert families == i18n.font_families(ZH) and families[-1] == i18n.cjk_font()[0]
        assert _missing(artist.get_text(), _font_cmaps(families)) == [], artist.get_text()


@needs_font
def test_a_chinese_png_draws_its_chinese_title():
    _, _, zh, zh_pixels = _frames(ZH)
    _, _, en, en_pixels = _frames("en")
    assert HAN.search(zh.title.get_text()) and not HAN.search(en.title.get_text())
    rows, cols = _title_box(zh)
    drawn = zh_pixels[rows, cols, :3]
    assert (drawn < 128).any()  # ink where the title is
    en_rows, en_cols = _title_box(en)
    assert zh.title.get_window_extent().width != en.title.get_window_extent().width
    assert (en_pixels[en_rows, en_cols, :3] < 128).any()


@needs_font
def test_a_chinese_gif_draws_its_chinese_title(tmp_path):
    from PIL import Image

    from app.exports.formats import export

    crops = {}
    for lang in (ZH, "en"):
        scene, opts, frames, pixels = _frames(lang, "gif", frames=3)
        path = tmp_path / f"{lang}.gif"
        export(scene, opts, path)
        with Image.open(path) as gif:
            gif.seek(gif.n_frames - 1)
            last = np.asarray(gif.convert("RGB"))
        rows, cols = _title_box(frames)
        crops[lang] = last[rows, cols]
        # The GIF's last frame is the frame drawn, up to its palette: its title is the one measured above.
        assert np.abs(last.astype(int) - pixels[..., :3].astype(int)).mean() < 4
        assert (crops[lang] < 128).any()
    assert crops[ZH].shape != crops["en"].shape or (crops[ZH] != crops["en"]).any()


def test_slides_notes_and_captions_follow_the_language():
    from app.exports.slides import caption_of, settings_of, title_of

    scene = _scene(ZH)
    assert title_of(scene) == "Beale"  # a surface's name as the field writes it
    assert caption_of(scene) == T("{0} on {1}, from ({2}, {3}), {4} steps.", "Adam, SGD, 动量", "Beale", "1", "1.5", 60)
    assert settings_of(scene)[:2] == ["曲面：Beale", "起点：(1, 1.5)；步数：60"]
    preset = next(p for p in PRESETS if p.id == "adam_lr_decay")
    deck_scene = _scene(ZH, preset.query)
    assert title_of(deck_scene) == T(preset.title) and HAN.search(title_of(deck_scene))


def test_the_export_cli_takes_lang(tmp_path, capsys):
    from app.cli import main

    with pytest.raises(SystemExit):
        main(["export", "--state", QUERY, "--out", str(tmp_path / "a.png"), "--lang", "fr"])
    assert "--lang: 'fr' is not a language Gradscape speaks" in capsys.readouterr().err


@needs_font
def test_a_chinese_map_draws_its_words_in_chinese(tmp_path):
    import matplotlib

    from app.exports.formats import make_options
    from app.exports.mapfigure import MapFigure, map_still

    data = _scene(ZH, "surface=himmelblau&opt=momentum&view=map&map.n=32")
    assert data.lang == ZH
    with matplotlib.rc_context(i18n.font_rc(ZH)), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = MapFigure(data, 640, 360)
        figure.rgba()
    assert [str(w.message) for w in caught if "missing from" in str(w.message)] == []
    title = figure.title.get_text()
    assert title == T("{0} on {1}: {2} × {3} runs of {4} steps", "动量", "Himmelblau", 32, 32, data.steps)
    assert figure.title.get_fontfamily() == i18n.font_families(ZH)
    assert T("diverged") in [t.get_text() for t in figure.legend.get_texts()]
    opts = make_options("png", "map", width=640, height=360, lang=ZH)
    map_still(data, opts, str(tmp_path / "map.png"))  # the file the export writes takes the same fonts
    assert (tmp_path / "map.png").stat().st_size > 0


@pytest.mark.parametrize("frames_only", [False, True])
def test_a_chinese_html_export_speaks_chinese(tmp_path, frames_only):
    import html as html_text
    import json as json_text

    from app.exports.formats import export, make_options

    t = i18n.translator(ZH)
    scene = _scene(ZH)
    out = export(scene, make_options("html", "contour", lang=ZH, frames_only=frames_only), tmp_path / "zh.html")
    text = out.read_text(encoding="utf-8")
    assert text.startswith('<!DOCTYPE html>\n<html lang="zh-CN">')
    assert f'<button id="play" type="button">{html_text.escape(t("Play"))}</button>' in text
    assert f'aria-label="{html_text.escape(t("Frame"))}"' in text
    data = json_text.loads(re.search(r'<script id="gradscape-data" type="application/json">(.*?)</script>', text,
                                     re.S).group(1))
    words = data["words"]
    assert words["step"] == t("step {0}") != "step {0}" and words["pause"] == t("Pause") != "Pause"
    assert words["left"] == t("left the frame at step {0}") != "left the frame at step {0}"
    if not frames_only:  # the sliders' help is the registry's, in Chinese
        helps = [h["help"] for run in data["live"]["runs"] for h in run["sliders"]]
        assert helps and all(h == t(h_en) for h, h_en in zip(helps, (
            h.help for run in scene.runs for h in core.OPTIMIZERS[run.optimizer].hyperparameters)))
        assert any(h != h_en for h, h_en in zip(helps, (
            h.help for run in scene.runs for h in core.OPTIMIZERS[run.optimizer].hyperparameters)))


def test_the_command_line_chooses_the_language_of_its_help():
    from app.cli import cli_lang

    assert cli_lang(["export", "--lang", "zh-CN", "--help"], {}) == ZH
    assert cli_lang(["--lang=zh-CN", "--help"], {"GRADSCAPE_LANG": "en"}) == ZH
    assert cli_lang(["--help"], {"GRADSCAPE_LANG": "zh-CN", "LANG": "en_US.UTF-8"}) == ZH
    assert cli_lang(["--help"], {"LANG": "zh_CN.UTF-8"}) == ZH
    assert cli_lang(["--help"], {"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}) == ZH
    assert cli_lang(["--help"], {"LANG": "C.UTF-8"}) == "en"
    assert cli_lang(["--help"], {}) == "en"
    assert cli_lang(["--lang", "fr", "--help"], {"LANG": "zh_CN.UTF-8"}) == "en"


@pytest.mark.parametrize("command", [[], ["serve"], ["build-site"], ["worker"], ["export"], ["network"], ["catalog"]])
def test_the_command_line_help_in_chinese(command, capsys):
    from app.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--lang", ZH, *command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("用法：") and "选项:" in text and "显示此帮助信息并退出" in text
    # Every line of help says its words in Chinese: what stays Latin is a flag, a metavar, an id or a value.
    words = {w.strip("'.-") for line in text.splitlines() for w in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", line)}
    assert not words & {"when", "omitted", "the", "with", "write", "show", "message", "options", "usage", "default"}


def test_the_command_line_refuses_in_chinese(tmp_path, capsys):
    from app.cli import main

    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    with pytest.raises(SystemExit) as done:
        main(["--lang", ZH, "build-site", str(a_file)])
    assert done.value.code == 2
    assert f"DIR {a_file}：是文件，不是文件夹" in capsys.readouterr().err


def test_a_chinese_beamer_snippet_says_how_to_compile_its_title():
    from app.exports.formats import make_options
    from app.exports.slides import beamer_snippet

    from app.presets import PRESETS

    query = next(p for p in PRESETS if p.id == "saddle_escape").query
    zh = beamer_snippet(_scene(ZH, query), make_options("beamer", "contour", lang=ZH), 10, "frames/f")
    en = beamer_snippet(_scene("en", query), make_options("beamer", "contour"), 10, "frames/f")
    assert "xelatex" in zh and "\\usepackage{xeCJK}" in zh and "xelatex" not in en
    assert HAN.search(zh.split("\\begin{frame}{")[1].split("}")[0])  # the preset's title itself is Chinese
