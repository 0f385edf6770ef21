// The timeline every view follows: play/pause, speed, a scrubber and a step counter.

import { $ } from "./util.js";
import { t } from "./i18n.js";

// At speed 1 a run of any length plays in about this many seconds (but never faster than 20 steps a second).
const SECONDS_PER_RUN = 8;
const MIN_STEPS_PER_SECOND = 20;

export class Player {
  /** `root` holds the timeline markup; `onStep(k)` draws step k and may return a promise. */
  constructor(root, onStep) {
    this.onStep = onStep;
    this.length = 0;
    this.k = 0;
    this.position = 0;
    this.playing = false;
    this.speed = 1;
    this.loop = false;
    this.busy = false;
    this.button = $(".play", root);
    this.scrubber = $(".scrubber", root);
    this.counter = $(".counter", root);
    this.button.addEventListener("click", () => this.toggle());
    $(".step-back", root).addEventListener("click", () => this.step(-1));
    $(".step-fwd", root).addEventListener("click", () => this.step(1));
    this.scrubber.addEventListener("input", () => this.seek(Number(this.scrubber.value)));
    this.tick = this.tick.bind(this);
  }

  setLength(n) {
    this.length = n;
    if (this.scrubber.max !== String(n)) this.scrubber.max = String(n);
    if (this.k > n) this.seek(n);
    this.show();
  }

  show() {
    const shown = `${this.k}/${this.length}/${this.playing}`;
    if (shown === this.shown) return;
    this.shown = shown;
    this.scrubber.value = String(this.k);
    this.scrubber.setAttribute("aria-valuetext", t("step {0} of {1}", this.k, this.length));
    this.counter.textContent = t("step {0} / {1}", this.k, this.length);
    this.button.setAttribute("aria-pressed", String(this.playing));
    this.button.setAttribute("aria-label", this.playing ? t("Pause") : t("Play"));
    this.button.classList.toggle("playing", this.playing);
  }

  play() {
    if (this.playing) return;
    if (this.k >= this.length) this.position = this.k = 0;
    this.playing = true;
    this.last = performance.now();
    this.show();
    requestAnimationFrame(this.tick);
  }

  pause() {
    this.playing = false;
    this.show();
  }

  toggle() { return this.playing ? this.pause() : this.play(); }

  step(delta) {
    this.pause();
    this.seek(this.k + delta);
  }

  seek(k) {
    this.k = Math.max(0, Math.min(this.length, Math.round(k)));
    this.position = this.k;
    this.show();
    this.draw();
  }

  draw() {
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    Promise.resolve(this.onStep(this.k)).finally(() => {
      this.busy = false;
      if (this.again) { this.again = false; this.draw(); }
    });
  }

  tick(now) {
    if (!this.playing) return;
    const rate = Math.max(this.length / SECONDS_PER_RUN, MIN_STEPS_PER_SECOND) * this.speed;
    this.position += (rate * (now - this.last)) / 1000;
    this.last = now;
    if (this.position >= this.length) {
      if (this.loop) this.position = 0;
      else { this.position = this.length; this.playing = false; }
    }
    const k = Math.floor(this.position);
    if (k !== this.k || !this.playing) {
      this.k = k;
      this.show();
      this.draw();
    }
    if (this.playing) requestAnimationFrame(this.tick);
  }
}
