"""The encoders: GIF frame by frame in bounded memory, MP4 through ffmpeg, and PNG or SVG stills.

GIF frames are mapped onto one palette taken from the last frame and written
one by one, each cropped to what changed; MP4 frames go as raw RGBA to the
ffmpeg binary that ships inside the imageio-ffmpeg wheel (libx264, yuv420p).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib
import numpy as np
from PIL import GifImagePlugin, Image

from app import i18n, palette
from app.exports.frames import Frames
from app.exports.options import Options, frame_steps
from app.exports.scene import Scene

Progress = Callable[[float], None]


def rgb_image(rgba: np.ndarray) -> Image.Image:
    """An RGB image of an (height, width, 4) RGBA frame, dropping alpha in C rather than in numpy."""
    h, w = rgba.shape[:2]
    return Image.frombuffer("RGBA", (w, h), np.ascontiguousarray(rgba), "raw", "RGBA", 0, 1).convert("RGB")


def shared_palette(key_frame: np.ndarray, colours=(), size: int = 255) -> Image.Image:
    """A 1-pixel "P" image holding a palette of `size` colours for every frame of an animation.

    The given colours come exactly (thin lines are too few pixels for median cut to keep their hue),
    then median cut of the frame that holds all the others. Entries past `size` repeat entry 0.
    """
    exact = [int(c[i:i + 2], 16) for c in dict.fromkeys(colours) for i in (1, 3, 5)]
    cut = rgb_image(key_frame).quantize(colors=size - len(exact) // 3, method=Image.Quantize.MEDIANCUT)
    entries = (exact + cut.getpalette())[: 3 * size]
    image = Image.new("P", (1, 1))
    image.putpalette(entries + entries[:3] * (256 - len(entries) // 3))
    return image


def run_colours(scene: Scene) -> list[str]:
    """Every colour a frame must keep exactly: the runs', the landmarks' and white."""
    return [palette.colour_for(r.optimizer) for r in scene.runs] + [palette.LANDMARK_COLOUR, "#ffffff"]


class GifWriter:
    """Writes a GIF frame by frame in bounded memory.

    Pillow's own writer keeps every frame until the end; this one maps each frame
    onto one shared palette, crops it to the pixels that changed since the last
    and marks the unchanged ones transparent, then hands it to Pillow's GIF
    block encoder. A frame equal to the last is a one-pixel transparent patch,
    so the file keeps one frame per frame asked for.
    """

    TRANSPARENT = 255

    def __init__(self, fh, key_frame: np.ndarray, fps: int, loop: bool, colours=()):
        self.fh, self.fps = fh, fps
        # Index 255 is kept for "unchanged".
        self.palette = shared_palette(key_frame, colours, self.TRANSPARENT)
        self.entries = self.palette.getpalette()
        self.count = 0
        self.previous = None
        info = {"loop": 0} if loop else {"duration": 1}  # no loop extension: play once
        header, _ = GifImagePlugin.getheader(self._image(np.zeros(key_frame.shape[:2], np.uint8)), None, info)
        for chunk in header:
            fh.write(chunk)

    def _image(self, pixels: np.ndarray) -> Image.Image:
        im = Image.frombytes("P", (pixels.shape[1], pixels.shape[0]), np.ascontiguousarray(pixels).tobytes())
        im.putpalette(self.entries)
        return im

    def add(self, frame: np.ndarray) -> None:
        rgb = rgb_image(frame)
        indexed = np.array(rgb.quantize(palette=self.palette, dither=Image.Dither.NONE))
        indexed[indexed >= self.TRANSPARENT] = 0
        # Delays are whole hundredths, rounded per frame so the total keeps to fps (30 fps: 3, 3, 4, ...).
        delay = round((self.count + 1) * 100 / self.fps) - round(self.count * 100 / self.fps)
        params = {"duration": delay * 10, "disposal": 1}
        if self.previous is None:
            patch, offset = indexed, (0, 0)
        else:
            changed = indexed != self.previous
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            if rows.size:
                y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
                patch = np.where(changed[y0:y1, x0:x1], indexed[y0:y1, x0:x1], self.TRANSPARENT).astype(np.uint8)
                offset = (int(x0), int(y0))
            else:
                patch, offset = np.full((1, 1), self.TRANSPARENT, np.uint8), (0, 0)
            params["transparency"] = self.TRANSPARENT
        for chunk in GifImagePlugin.getdata(self._image(patch), offset, **params):
            self.fh.write(chunk)
        self.previous = indexed
        self.count += 1

    def close(self) -> None:
        self.fh.write(b";")


def _ffmpeg(path: str, width: int, height: int, fps: int):
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(
        path, (width, height), pix_fmt_in="rgba", pix_fmt_out="yuv420p", fps=fps, codec="libx264",
        quality=None, macro_block_size=1, ffmpeg_log_level="error",
        # -tune animation suits flat colour and thin lines; faststart lets slides play before the end arrives.
        output_params=["-preset", "veryfast", "-tune", "animation", "-crf", "20", "-profile:v", "high",
                       "-movflags", "+faststart", "-f", "mp4"],
    )
    writer.send(None)
    return writer


def frames_for(scene: Scene, opts: Options, view: str | None = None, last_step: int | None = None) -> Frames:
    """The scene drawn as `opts` asks: its view (or `view`), size, annotations and subtitle, up to `last_step`."""
    # Every text artist takes its fonts when made: Chinese glyphs from a CJK font, the rest as in English.
    with matplotlib.rc_context(i18n.font_rc(scene.lang)):
        return Frames(scene, view or opts.view, opts.width, opts.height,
                      tolerance=opts.tolerance if opts.annotate else None, subtitle=opts.subtitle, last_step=last_step)


def write_mp4(frames: Frames, steps, path: str, fps: int, progress: Progress | None) -> None:
    writer = _ffmpeg(path, frames.width, frames.height, fps)
    try:
        for i, step in enumerate(steps):
            writer.send(frames.frame(int(step)))
            if progress:
                progress((i + 1) / len(steps))
    finally:
        writer.close()


def animate(scene: Scene, opts: Options, path: str, progress: Progress | None) -> None:
    frames = frames_for(scene, opts)
    steps = frame_steps(scene.steps, opts.frame_count(scene.steps))
    if opts.format != "gif":
        write_mp4(frames, steps, path, opts.fps, progress)
        return
    with open(path, "wb") as fh:
        writer = GifWriter(fh, frames.frame(int(steps[-1])).copy(), opts.fps, opts.loop, run_colours(scene))
        for i, step in enumerate(steps):
            writer.add(frames.frame(int(step)))
            if progress:
                progress((i + 1) / len(steps))
        writer.close()


def still(scene: Scene, opts: Options, path: str) -> None:
    step = scene.steps if opts.step is None else opts.step
    frames = frames_for(scene, opts, last_step=step)
    if opts.format == "png":
        rgb_image(frames.frame(step)).save(path, format="PNG")
    else:
        Path(path).write_bytes(frames.svg(step))
