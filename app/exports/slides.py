"""Files to put straight into slides: a PowerPoint deck whose slides play the animation, and Beamer's
PNG frames with an `animate` snippet.

python-pptx writes the deck (OOXML with the movie's media, poster image and
timing parts); the movie is the MP4 export, its poster the last frame, drawn by
the same Frames.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from PIL import Image

from app.exports.animation import frames_for, rgb_image, run_colours, shared_palette, write_mp4
from app.exports.options import Options, frame_steps
from app.exports.scene import Deck, Scene
from core.engine import optimizer_spec

Progress = Callable[[float], None]

# 16:9 in EMU (914,400 a inch): 13.333 x 7.5 inches, PowerPoint's and Google Slides' widescreen.
SLIDE_WIDTH, SLIDE_HEIGHT = 12_192_000, 6_858_000
INCH = 914_400
MARGIN = INCH // 3
TITLE_HEIGHT = int(0.9 * INCH)
CAPTION_HEIGHT = int(0.85 * INCH)
# Beamer frames: on an 8-bit 1280 x 720 frame zlib's level 3 takes 5 ms for 83 kB, level 6 11 ms for 74 kB.
PNG_COMPRESSION = 3


def title_of(scene: Scene) -> str:
    """A slide's title: the preset's, else what the runs race on."""
    return scene.t(scene.preset.title if scene.preset is not None else scene.spec.label)


def caption_of(scene: Scene) -> str:
    """The preset's question, else who races from where."""
    t = scene.t
    if scene.preset is not None:
        return t(scene.preset.question)
    names = ", ".join(scene.name(run) for run in scene.runs)
    x, y = scene.runs[0].start
    return t("{0} on {1}, from ({2}, {3}), {4} steps.", names, t(scene.spec.label), f"{x:g}", f"{y:g}", scene.steps)


def settings_of(scene: Scene) -> list[str]:
    """The settings a slide shows, one line each: the surface, the start, the steps and every run's hyperparameters."""
    run, t = scene.runs[0], scene.t
    params = ", ".join(f"{k} = {v:g}" for k, v in run.surface_params.items())
    lines = [t("surface: {0}", t(scene.spec.label)) + (f" ({params})" if params else ""),
             t("start: ({0}, {1}); steps: {2}", f"{run.start[0]:g}", f"{run.start[1]:g}", scene.steps)]
    if run.schedule and run.schedule.get("name", "constant") != "constant":
        lines.append(t("schedule: {0}", ", ".join(f"{k} = {v}" for k, v in run.schedule.items())))
    if run.noise:
        lines.append(t("gradient noise: {0}; seed {1}", ", ".join(f"{k} = {v}" for k, v in run.noise.items()), run.seed))
    for r in scene.runs:
        values = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in r.hyperparameters.items())
        lines.append(f"{scene.name(r)} ({optimizer_spec(r.optimizer).id}): {values}")
    return lines


def link_of(scene: Scene, opts: Options) -> str:
    return f"{opts.origin.rstrip('/')}/?{scene.query}" if scene.query else ""


def write_pptx(subject: Scene | Deck, opts: Options, path: str, progress: Progress | None) -> None:
    """One 16:9 slide per scene of the deck: the title, the animation as a movie, the caption, and the
    link and settings in the speaker notes."""
    from pptx import Presentation
    from pptx.util import Emu, Pt

    slides = subject.slides if isinstance(subject, Deck) else [(subject, opts.view)]
    deck = Presentation()
    deck.slide_width, deck.slide_height = Emu(SLIDE_WIDTH), Emu(SLIDE_HEIGHT)
    layout = next(lay for lay in deck.slide_layouts if lay.name == "Title Only")
    with tempfile.TemporaryDirectory(prefix="gradscape-pptx-") as tmp:
        for n, (scene, view) in enumerate(slides):
            movie = os.path.join(tmp, f"slide{n + 1}.mp4")

            def part(fraction: float, n=n) -> None:
                if progress:
                    progress((n + fraction) / len(slides))

            frames = frames_for(scene, opts, view)
            steps = frame_steps(scene.steps, opts.frame_count(scene.steps))
            write_mp4(frames, steps, movie, opts.fps, part)
            poster = io.BytesIO()
            rgb_image(frames.frame(scene.steps)).save(poster, format="PNG")
            poster.seek(0)

            slide = deck.slides.add_slide(layout)
            # The layouts are laid out for 4:3: the title is placed for the widescreen slide here.
            title = slide.shapes.title
            title.left, title.top = Emu(MARGIN), Emu(MARGIN // 2)
            title.width, title.height = Emu(SLIDE_WIDTH - 2 * MARGIN), Emu(TITLE_HEIGHT)
            title.text = title_of(scene)
            title.text_frame.paragraphs[0].runs[0].font.size = Pt(32)

            room_w = SLIDE_WIDTH - 2 * MARGIN
            room_h = SLIDE_HEIGHT - TITLE_HEIGHT - CAPTION_HEIGHT - MARGIN
            scale = min(room_w / opts.width, room_h / opts.height)
            w, h = int(opts.width * scale), int(opts.height * scale)
            top = MARGIN // 2 + TITLE_HEIGHT
            slide.shapes.add_movie(movie, Emu((SLIDE_WIDTH - w) // 2), Emu(top), Emu(w), Emu(h),
                                   poster_frame_image=poster, mime_type="video/mp4")

            box = slide.shapes.add_textbox(Emu(MARGIN), Emu(top + h + MARGIN // 4), Emu(room_w), Emu(CAPTION_HEIGHT))
            box.text_frame.word_wrap = True
            box.text_frame.text = caption_of(scene)
            for paragraph in box.text_frame.paragraphs:
                for run in paragraph.runs:
                    run.font.size = Pt(14)

            link = link_of(scene, opts)
            notes = ([scene.t("Open it live: {0}", link)] if link else []) + settings_of(scene)
            if opts.subtitle:
                notes.insert(0, opts.subtitle)
            slide.notes_slide.notes_text_frame.text = "\n".join(notes)
        deck.save(path)


# Titles hold a little math in Unicode (x² − y², ε = 1): these are what pdflatex's own input encoding lacks.
_TEX_SPECIALS = {"\\": "\\textbackslash{}", "&": "\\&", "%": "\\%", "#": "\\#", "$": "\\$", "_": "\\_",
                 "{": "\\{", "}": "\\}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}",
                 "²": "\\textsuperscript{2}", "³": "\\textsuperscript{3}", "−": "$-$", "—": "---", "–": "--",
                 "×": "$\\times$", "·": "$\\cdot$", "√": "$\\surd$", "≈": "$\\approx$", "ε": "$\\varepsilon$",
                 "ρ": "$\\rho$", "μ": "$\\mu$", "α": "$\\alpha$", "β": "$\\beta$", "λ": "$\\lambda$",
                 "κ": "$\\kappa$", "η": "$\\eta$", "γ": "$\\gamma$", "θ": "$\\theta$", "̂": ""}


def tex_text(text: str) -> str:
    """Plain text as LaTeX that pdflatex typesets as it reads."""
    return "".join(_TEX_SPECIALS.get(c, c) for c in text)


def beamer_snippet(scene: Scene, opts: Options, frames: int, prefix: str) -> str:
    """A Beamer frame that plays the PNG frames with the animate package."""
    keys = ["controls", "width=\\linewidth"] + (["loop"] if opts.loop else []) + (["autoplay"] if opts.autoplay else [])
    digits = len(str(frames - 1))
    title = tex_text(title_of(scene))
    link = link_of(scene, opts)
    return "\n".join([
        "% Gradscape animation for Beamer: put \\usepackage{animate} in the preamble and this",
        "% folder's frames/ beside the .tex file. It plays in Acrobat, Okular, PDF-XChange, Foxit and pdf.js.",
        *([f"% Live: {link.replace('%', '%%')}"] if link else []),
        # pdflatex has no Chinese glyphs: the frame's title needs a CJK-aware engine and package.
        *(["% The title is Chinese: compile with xelatex and \\usepackage{xeCJK} (or the ctex package)."]
          if scene.lang != "en" else []),
        f"\\begin{{frame}}{{{title}}}",
        "  \\centering",
        f"  \\animategraphics[{','.join(keys)}]{{{opts.fps}}}{{{prefix}}}{{{0:0{digits}d}}}{{{frames - 1:0{digits}d}}}",
        "\\end{frame}",
        "",
    ])


def write_beamer(scene: Scene, opts: Options, path: str, progress: Progress | None) -> None:
    """A zip of the animation's PNG frames and a .tex snippet playing them at `opts.fps`."""
    frames = frames_for(scene, opts)
    steps = frame_steps(scene.steps, opts.frame_count(scene.steps))
    digits = len(str(len(steps) - 1))
    # 8-bit PNGs on one palette, as the GIF's: under half the bytes of RGB (300 frames at 1280 x 720
    # are about 25 MB instead of 67) and a fifth of the encoding time (7 ms a frame against 40). They
    # are encoded on a second thread while the next frame is drawn (zlib lets go of the GIL).
    shared = shared_palette(frames.frame(int(steps[-1])).copy(), run_colours(scene))

    def encode(rgb) -> bytes:
        png = io.BytesIO()
        rgb.quantize(palette=shared, dither=Image.Dither.NONE).save(png, format="PNG", compress_level=PNG_COMPRESSION)
        return png.getvalue()

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive, \
            ThreadPoolExecutor(1, thread_name_prefix="gradscape-png") as pool:
        pending: deque = deque()

        def store() -> None:
            i, future = pending.popleft()
            archive.writestr(f"frames/frame-{i:0{digits}d}.png", future.result())
            if progress:
                progress((i + 1) / len(steps))

        for i, step in enumerate(steps):
            pending.append((i, pool.submit(encode, rgb_image(frames.frame(int(step))))))
            if len(pending) > 2:
                store()
        while pending:
            store()
        archive.writestr("gradscape.tex", beamer_snippet(scene, opts, len(steps), "frames/frame-"))
