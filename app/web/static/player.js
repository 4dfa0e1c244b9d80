// The player: the user's own file from an object URL (nothing is downloaded from the service),
// seeking to a shot, and "play highlights": the highlight segments in time order, one after
// another, then a stop.

export class Player {
  constructor(video, { onTime, onHighlightsEnd }) {
    this.video = video;
    this.url = null;
    this.segments = null;  // the highlight segments while they play
    this.onHighlightsEnd = onHighlightsEnd;
    video.addEventListener("timeupdate", () => {
      this.followHighlights();
      onTime(video.currentTime);
    });
    // Seeking by hand or pausing ends a highlights run: the person has taken over.
    video.addEventListener("pause", () => {
      if (this.segments && !this.jumping) this.stopHighlights();
    });
  }

  open(file) {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = file ? URL.createObjectURL(file) : null;
    this.stopHighlights();
    if (this.url) this.video.src = this.url;
    else this.video.removeAttribute("src");
    this.video.load();
  }

  get hasVideo() {
    return Boolean(this.url);
  }

  // Duration from the file's own metadata, or null when this browser cannot read the file.
  duration() {
    return new Promise((resolve) => {
      if (Number.isFinite(this.video.duration)) return resolve(this.video.duration);
      const done = () => resolve(Number.isFinite(this.video.duration) ? this.video.duration : null);
      this.video.addEventListener("loadedmetadata", done, { once: true });
      this.video.addEventListener("error", () => resolve(null), { once: true });
      setTimeout(() => resolve(null), 5000);
    });
  }

  async seek(time, play = false) {
    if (!this.url) return;
    this.stopHighlights();
    this.video.currentTime = time;
    if (play) await this.play();
  }

  async play() {
    try {
      await this.video.play();
    } catch {
      // Autoplay refused or the format is not playable here: the controls still work.
    }
  }

  async playHighlights(segments) {
    if (!this.url || !segments.length) return;
    this.segments = [...segments].sort((a, b) => a.start_s - b.start_s);
    this.position = 0;
    await this.jumpTo(this.segments[0].start_s);
    await this.play();
    // timeupdate fires only every quarter second or so: check every frame while the
    // highlights play, so each segment ends where it ends.
    const tick = () => {
      if (!this.segments) return;
      this.followHighlights();
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  async jumpTo(time) {
    this.jumping = true;
    this.video.currentTime = time;
    await new Promise((resolve) => this.video.addEventListener("seeked", resolve, { once: true }));
    this.jumping = false;
  }

  followHighlights() {
    if (!this.segments || this.jumping) return;
    const segment = this.segments[this.position];
    if (this.video.currentTime < segment.end_s) return;
    this.position += 1;
    if (this.position >= this.segments.length) {
      this.jumping = true;  // the pause below ends the run on purpose
      this.video.pause();
      this.jumping = false;
      this.stopHighlights();
      return;
    }
    this.jumpTo(this.segments[this.position].start_s);
  }

  get playingHighlight() {
    return this.segments ? this.position : null;
  }

  stopHighlights() {
    const wasPlaying = this.segments !== null;
    this.segments = null;
    if (wasPlaying && this.onHighlightsEnd) this.onHighlightsEnd();
  }
}
