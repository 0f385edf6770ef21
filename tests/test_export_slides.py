"""Slides and stills: a PowerPoint read back with python-pptx, Beamer's frames and snippet (compiled when
TeX is installed), legends that say only what has happened by the step shown, and annotations."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from urllib.parse import parse_qsl

import httpx
import numpy as np
import pytest
from PIL import Image

import core
from app.cli import main
from app.exports import formats, frames as framing, scene as scenes
from app.exports.link import scene_from_state
from app.presets import PRESETS
from app.settings import Settings
from tests.test_export import SIZE, ffprobe, wait_for

pptx = pytest.importorskip("pptx", reason="python-pptx is an app dependency: pip install -e .")

FRAMES = 8
SADDLE = next(p for p in PRESETS if p.id == "saddle_escape")
BEALE = next(p for p in PRESETS if p.id == "beale_race")
SIXTEEN_NINE = (12_192_000, 6_858_000)
# Read from each preset's own link, not by the exports' code.
NETWORK_PRESETS = [p.id for p in PRESETS if dict(parse_qsl(p.query)).get("surface") == "network"]
SURFACE_PRESETS = [p.id for p in PRESETS if p.id not in NETWORK_PRESETS]


def write(subject, tmp_path, fmt, **kw):
    kw = {"frames": FRAMES, "width": SIZE[0], "height": SIZE[1], **kw}
    opts = formats.make_options(fmt, kw.pop("view", "contour"), **kw)
    out = tmp_path / f"out.{fmt}"
    formats.export(subject, opts, out)
    return out


@pytest.fixture(scope="module")
def saddle_preset():
    return scene_from_state(SADDLE.query + "&steps=60", Settings())[0]


@pytest.fixture(scope="module")
def saddle_link():
    return scene_from_state(SADDLE.query, Settings())[0]


def movie_parts(deck) -> list:
    return [p for p in deck.part.package.iter_parts() if p.content_type == "video/mp4"]


# --- PowerPoint ---------------------------------------------------------------------

def test_a_link_that_is_a_preset_knows_it_whatever_its_display_keys(saddle_link):
    assert saddle_link.preset == SADDLE
    assert scene_from_state(SADDLE.query + "&view=loss&speed=2", Settings())[0].preset == SADDLE
    assert scene_from_state("surface=saddle&opt=adam&steps=20", Settings())[0].preset is None


def test_pptx_is_one_16_9_slide_with_the_movie_its_poster_the_title_the_question_and_notes(saddle_link, tmp_path):
    opts = formats.make_options("pptx", "contour", frames=FRAMES, width=SIZE[0], height=SIZE[1],
                                origin="https://gradscape.example")
    out = tmp_path / "saddle.pptx"
    formats.export(saddle_link, opts, out)
    deck = pptx.Presentation(str(out))
    assert (deck.slide_width, deck.slide_height) == SIXTEEN_NINE
    [slide] = deck.slides
    assert slide.shapes.title.text == SADDLE.title
    [movie] = [s for s in slide.shapes if s.shape_type == pptx.enum.shapes.MSO_SHAPE_TYPE.MEDIA]
    # The movie keeps the frames' shape and lies inside the slide, under the title.
    assert movie.width / movie.height == pytest.approx(SIZE[0] / SIZE[1], rel=1e-3)
    assert movie.top >= slide.shapes.title.top + slide.shapes.title.height
    assert movie.left >= 0 and movie.left + movie.width <= deck.slide_width
    assert movie.top + movie.height <= deck.slide_height
    [part] = movie_parts(deck)
    mp4 = tmp_path / "movie.mp4"
    mp4.write_bytes(part.blob)
    probe = ffprobe(mp4)
    assert (probe["codec_name"], int(probe["nb_read_frames"])) == ("h264", FRAMES)
    assert (int(probe["width"]), int(probe["height"])) == SIZE
    # The poster is the last frame: a picture of the slide's size before the movie starts.
    poster = [p for p in deck.part.package.iter_parts() if p.content_type == "image/png"]
    assert any(Image.open(io.BytesIO(p.blob)).size == SIZE for p in poster)
    texts = [s.text_frame.text for s in slide.shapes if s.has_text_frame and s != slide.shapes.title]
    assert SADDLE.question in texts
    notes = slide.notes_slide.notes_text_frame.text
    assert f"https://gradscape.example/?{SADDLE.query}" in notes
    assert "surface: Saddle" in notes and "start: (-1.5, 0.001); steps: 300" in notes
    assert "SGD (sgd): lr = 0.01" in notes and "Adagrad (adagrad): lr = 0.1" in notes


def test_a_deck_has_the_links_slide_then_one_per_preset_in_its_own_view(tmp_path):
    from app.exports.link import subject_from_state

    opts = formats.make_options("pptx", "contour", frames=4, width=SIZE[0], height=SIZE[1],
                                deck="saddle_escape:loss,beale_race")
    subject = subject_from_state("surface=booth&opt=adam&steps=10", opts, Settings())
    assert [view for _, view in subject.slides] == ["contour", "loss", "contour"]
    out = tmp_path / "deck.pptx"
    formats.export(subject, opts, out)
    deck = pptx.Presentation(str(out))
    assert [s.shapes.title.text for s in deck.slides] == ["Booth", SADDLE.title, BEALE.title]
    assert len(movie_parts(deck)) == 3
    # A deck alone: a link that races nothing adds no slide.
    alone = subject_from_state("", opts, Settings())
    assert [s.preset for s, _ in alone.slides] == [SADDLE, BEALE]


def test_a_slide_of_a_link_that_is_no_preset_says_who_races_where(tmp_path):
    scene = scene_from_state("surface=booth&opt=adam,sgd&steps=10&start=1,-2", Settings())[0]
    out = write(scene, tmp_path, "pptx", frames=3, subtitle="Which one is first?")
    [slide] = pptx.Presentation(str(out)).slides
    assert slide.shapes.title.text == "Booth"
    texts = [s.text_frame.text for s in slide.shapes if s.has_text_frame and s != slide.shapes.title]
    assert "Adam, SGD on Booth, from (1, -2), 10 steps." in texts
    assert slide.notes_slide.notes_text_frame.text.startswith("Which one is first?")


# --- Beamer ---------------------------------------------------------------------------

def test_beamer_is_a_zip_of_the_frames_and_a_snippet_at_the_rate_asked(saddle_preset, tmp_path):
    out = write(saddle_preset, tmp_path, "beamer", fps=12, frames=11)
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        frames = sorted(n for n in names if n.startswith("frames/"))
        assert frames == [f"frames/frame-{i:02d}.png" for i in range(11)]
        assert {Image.open(io.BytesIO(z.read(n))).size for n in frames} == {SIZE}
        tex = z.read("gradscape.tex").decode()
    assert re.search(r"\\animategraphics\[controls,width=\\linewidth,loop,autoplay\]\{12\}\{frames/frame-\}\{00\}\{10\}",
                     tex), tex
    # Not the preset (60 steps, not 300): the surface's title, its Unicode math in LaTeX.
    assert "\\begin{frame}{Saddle x\\textsuperscript{2} $-$ y\\textsuperscript{2}}" in tex


@pytest.mark.slow
def test_the_beamer_snippet_compiles_into_a_pdf_with_its_frames(saddle_preset, tmp_path):
    if shutil.which("pdflatex") is None or subprocess.run(["kpsewhich", "animate.sty"], capture_output=True,
                                                          text=True).stdout.strip() == "":
        pytest.skip("no pdflatex with animate.sty (Debian: texlive-latex-extra, which scripts/test installs)")
    out = write(saddle_preset, tmp_path, "beamer", fps=5, frames=3)
    with zipfile.ZipFile(out) as z:
        z.extractall(tmp_path)
    (tmp_path / "talk.tex").write_text("\\documentclass[aspectratio=169]{beamer}\n\\usepackage{animate}\n"
                                       "\\begin{document}\n\\input{gradscape.tex}\n\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "talk.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:]
    pdf = (tmp_path / "talk.pdf").read_bytes()
    # animate puts each frame in the PDF as an image XObject of the frame's size.
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) >= 3 or b"/JavaScript" in pdf


# --- stills and legends ---------------------------------------------------------------

@pytest.fixture(scope="module")
def saddle():
    runs = [core.trajectory("saddle", o, (-1.5, 1e-3), 250, {"lr": 0.0025}) for o in ("momentum", "nesterov")]
    runs.append(core.trajectory("saddle", "sgd", (-1.5, 1e-3), 250, {"lr": 0.01}))
    return scenes.Scene.from_runs(runs)


def legend_at(frames: framing.Frames, step: int) -> list[str]:
    frames.frame(step)
    return [t.get_text().rstrip("\n ") for t in frames.legend_texts]


@pytest.mark.parametrize("view", ["contour", "surface3d", "loss"])
def test_a_legend_says_only_what_has_happened_by_the_step_shown(saddle, view):
    left = saddle.exit(saddle.runs[0], view)[0]
    frames = framing.Frames(saddle, view, *SIZE)
    assert legend_at(frames, left - 1)[0] == "Momentum"
    assert legend_at(frames, left)[0] == f"Momentum\n(left the frame at step {left})"
    # Back to before it left: the note goes again, and the frame is the one a fresh drawing gives.
    again = frames.frame(left - 1).copy()
    assert legend_at(frames, left - 1)[0] == "Momentum"
    assert np.array_equal(again, framing.Frames(saddle, view, *SIZE).frame(left - 1))


def test_a_legend_redrawn_when_its_labels_change_equals_a_fresh_drawing(saddle):
    left = saddle.exit(saddle.runs[0], "contour")[0]
    frames = framing.Frames(saddle, "contour", *SIZE)
    for step in range(0, left + 5, 7):  # an animation: the note appears part way
        frames.frame(step)
    x0, y0, x1, y1 = frames._legend_px
    pieces = frames.frame(left + 5)[y0:y1, x0:x1]
    # (the trails, drawn piece by piece, may differ where pieces join; the legend may not)
    assert np.array_equal(pieces, framing.Frames(saddle, "contour", *SIZE).frame(left + 5)[y0:y1, x0:x1])


def test_a_still_before_a_run_left_does_not_name_its_exit(saddle, tmp_path):
    left = saddle.exit(saddle.runs[0], "contour")[0]
    before = np.asarray(Image.open(write(saddle, tmp_path, "png", step=left - 1)))
    after = np.asarray(Image.open(write(saddle, tmp_path, "png", step=left)))
    frames = framing.Frames(saddle, "contour", *SIZE)
    x0, y0, x1, y1 = frames._legend_px
    # The legend's pixels differ (the note appears) and nowhere else but the plot and title do.
    assert not np.array_equal(before[y0:y1, x0:x1], after[y0:y1, x0:x1])


def test_arrival_is_the_first_step_within_the_tolerance_of_a_minimum():
    run = core.trajectory("quadratic", "adam", (-1.8, 1.0), 300, {"lr": 0.05})
    scene = scenes.Scene.from_runs([run])
    gaps = np.hypot(*(run.points - np.asarray(scene.landmarks[0][0])).T)
    k = scene.arrival(run, 1e-2)
    assert gaps[k] <= 1e-2 and (gaps[:k] > 1e-2).all()
    assert scene.arrival(run, 1e-300) is None
    frames = framing.Frames(scene, "contour", *SIZE, tolerance=1e-2)
    assert legend_at(frames, k - 1) == ["Adam"]
    assert legend_at(frames, k) == [f"Adam\n(reached a minimum at step {k})"]
    # Without the option the legend says nothing of it.
    assert legend_at(framing.Frames(scene, "contour", *SIZE), 300) == ["Adam"]


def test_the_subtitle_stands_between_the_title_and_the_plot(saddle):
    frames = framing.Frames(saddle, "contour", 1280, 720, subtitle="Who escapes first: $5 or $10?")
    frames.frame(10)
    # Two dollars would make mathtext of "5 or " otherwise.
    assert frames.subtitle.get_text() == "Who escapes first: $5 or $10?" and not frames.subtitle.get_parse_math()
    renderer = frames.canvas.get_renderer()
    title, sub = frames.title.get_window_extent(renderer), frames.subtitle.get_window_extent(renderer)
    plot = frames.ax.get_window_extent(renderer)
    assert plot.y1 <= sub.y0 and sub.y1 <= title.y0 <= 720
    assert abs((sub.x0 + sub.x1) / 2 - (plot.x0 + plot.x1) / 2) < 2


@pytest.mark.parametrize("kwargs, field, message", [
    ({"format": "png", "subtitle": "x" * 121}, "subtitle", "at most 120 characters; this one has 121"),
    ({"format": "png", "subtitle": "a\nb"}, "subtitle", "this one has a line break"),
    ({"format": "gif", "tolerance": 0}, "tolerance", "tolerance = 0 is outside [1e-06, 1]"),
    ({"format": "gif", "tolerance": "near"}, "tolerance", "'near' is not a number"),
    ({"format": "pptx", "deck": "nope"}, "deck", "unknown preset 'nope' in deck; allowed: beale_race,"),
    ({"format": "pptx", "deck": "saddle_escape:map"}, "deck", "unknown view 'map' in deck item 'saddle_escape:map'"),
    ({"format": "pptx", "deck": ["saddle_escape"] * 13}, "deck", "deck has 13 slides; allowed: at most 12"),
    ({"format": "mp4", "deck": "saddle_escape"}, "deck", "deck gives the slides of a pptx"),
    ({"format": "pptx", "width": 801}, "width", "must be even for pptx"),
    ({"format": "beamer", "view": "map"}, "view", "view = map is a still picture"),
])
def test_bad_slide_options_name_the_field_and_the_allowed_values(kwargs, field, message):
    with pytest.raises(core.InvalidInput) as err:
        formats.make_options(**kwargs)
    assert err.value.field == field and message in str(err.value)


def test_there_are_network_presets_for_a_deck_to_refuse():
    assert NETWORK_PRESETS and SURFACE_PRESETS


def says_a_deck_takes_only_surface_presets(message: str, preset: str) -> None:
    assert f"{preset} is a network preset; a deck takes presets of the 2-D surfaces: " in message
    allowed = message.rsplit(": ", 1)[1].split(", ")
    assert allowed == SURFACE_PRESETS


@pytest.mark.parametrize("preset", NETWORK_PRESETS)
def test_a_network_preset_in_a_deck_is_named_as_one_with_the_presets_a_deck_takes(preset):
    with pytest.raises(core.InvalidInput) as err:
        formats.make_options("pptx", deck=f"saddle_escape,{preset}:loss")
    assert err.value.field == "deck"
    says_a_deck_takes_only_surface_presets(err.value.reason, preset)


def test_an_unknown_deck_preset_is_offered_only_the_presets_a_deck_takes():
    with pytest.raises(core.InvalidInput) as err:
        formats.make_options("pptx", deck="nope")
    assert err.value.reason.rsplit("allowed: ", 1)[1].split(", ") == SURFACE_PRESETS


# --- the command line and the HTTP API ---------------------------------------------------

def test_cli_writes_a_deck_and_a_zip_named_for_beamer(tmp_path, capsys):
    out = tmp_path / "talk.pptx"
    assert main(["export", "--state", "surface=booth&opt=adam&steps=10", "--deck", "saddle_escape", "--frames", "3",
                 "--width", "320", "--height", "240", "--out", str(out)]) == 0
    assert [s.shapes.title.text for s in pptx.Presentation(str(out)).slides] == ["Booth", SADDLE.title]
    zipped = tmp_path / "frames.zip"
    assert main(["export", "--state", "surface=booth&opt=adam&steps=10", "--frames", "3", "--width", "320",
                 "--height", "240", "--out", str(zipped)]) == 0
    assert "gradscape.tex" in zipfile.ZipFile(zipped).namelist()


def test_cli_names_the_deck_flag_in_its_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--state", "surface=booth&opt=adam&steps=10", "--deck", "nope", "--out", str(tmp_path / "a.pptx")])
    assert exit_.value.code == 2 and "--deck: unknown preset 'nope'" in capsys.readouterr().err


def test_cli_says_a_network_preset_is_no_slide_of_a_deck(tmp_path, capsys):
    preset = NETWORK_PRESETS[0]
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--state", "surface=booth&opt=adam&steps=10", "--deck", f"saddle_escape,{preset}",
              "--out", str(tmp_path / "a.pptx")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and f"--deck: {preset} is a network preset" in err
    says_a_deck_takes_only_surface_presets(err, preset)
    assert not (tmp_path / "a.pptx").exists()


def test_http_a_network_preset_in_a_deck_is_a_422_naming_deck():
    from fastapi.testclient import TestClient

    from app.main import create_app

    preset = NETWORK_PRESETS[-1]
    with TestClient(create_app()) as client:
        r = client.post("/api/exports", json={"state": "", "format": "pptx", "deck": [preset]})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "deck"]
    says_a_deck_takes_only_surface_presets(error["msg"], preset)


def test_http_a_deck_preset_past_the_servers_limits_is_refused_before_its_job():
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import get_settings

    app = create_app()
    app.dependency_overrides[get_settings] = lambda: Settings(max_steps=500)
    with TestClient(app) as client:
        r = client.post("/api/exports", json={"state": "", "format": "pptx", "deck": ["saddle_escape", "beale_race_defaults"]})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"][:3] == ["body", "deck", "steps"] and "700" in error["msg"] and "500" in error["msg"]


@pytest.mark.server
def test_http_pptx_deck_with_annotations_arrives_whole(live_server, tmp_path):
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        r = client.post("/api/exports", json={"state": "", "format": "pptx", "deck": ["saddle_escape:loss"],
                                              "frames": 4, "width": SIZE[0], "height": SIZE[1], "annotate": True,
                                              "subtitle": "Escape velocity"})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["filename"] == "gradscape-deck-contour.pptx"
        assert wait_for(client, f"/api/exports/{job['id']}")["status"] == "done"
        r = client.get(f"/api/exports/{job['id']}/file")
    assert r.headers["content-type"] == formats.MEDIA_TYPES["pptx"]
    (tmp_path / "deck.pptx").write_bytes(r.content)
    [slide] = pptx.Presentation(str(tmp_path / "deck.pptx")).slides
    notes = slide.notes_slide.notes_text_frame.text
    assert notes.startswith("Escape velocity") and f"{live_server.url}/?{SADDLE.query}" in notes


@pytest.mark.server
@pytest.mark.parametrize("body, loc, message", [
    ({"format": "pptx", "deck": ["nope"]}, ["body", "deck"], "unknown preset 'nope'"),
    ({"format": "png", "tolerance": 5}, ["body", "tolerance"], "tolerance = 5 is outside [1e-06, 1]"),
    ({"format": "png", "subtitle": "x" * 200}, ["body", "subtitle"], "at most 120 characters"),
    ({"format": "beamer", "step": 3}, ["body", "step"], "an animation shows every step"),
    ({"format": "pptx", "state": ""}, ["body", "state", "opt"], "no optimizer chosen"),
])
def test_http_bad_slide_options_get_422_naming_the_field(live_server, body, loc, message):
    body = {"state": "surface=beale&opt=adam&steps=30", **body}
    r = httpx.post(live_server.url + "/api/exports", json=body, timeout=30)
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == loc and message in error["msg"]
