// Split brain as one router sees it: two routers advertising as master for one VRID at once.
// The evidence is alternation: adverts from X, then Y, then X again within a window of about one
// advert interval. Two live masters each advertise every interval, so their adverts interleave
// (a master counts its own adverts, so it sees the other one alternate with itself). A failover
// (X falls silent, Y starts) or a preemption (X steps down on Y's first advert) never goes back
// to X inside the window, so neither counts. Pure: time comes in as `now`.

/** Alternation within this many advert intervals counts (1 interval plus room for jitter). */
export const SPLIT_BRAIN_WINDOW_INTERVALS = 1.5;

export class SplitBrainWatch {
  /** The last two distinct speakers heard, oldest first, with when each was last heard. */
  private recent: { source: string; at: number }[] = [];
  private evidenceAt: number | undefined;
  /** Episodes seen: each time split brain began. */
  episodes = 0;

  /**
   * A non-zero-priority advert from `source` (our own primary address for one we sent as master),
   * with the current Master_Adver_Interval. Returns the two masters when this begins an episode.
   */
  heard(source: string, now: number, intervalMs: number): [string, string] | undefined {
    const windowMs = SPLIT_BRAIN_WINDOW_INTERVALS * intervalMs;
    const last = this.recent.at(-1);
    if (last?.source === source) {
      last.at = now;
    } else {
      const before = this.recent.at(-2);
      // X (before), then Y (last), now X again: both spoke inside the window.
      let began: [string, string] | undefined;
      if (before?.source === source && last && now - before.at <= windowMs) {
        if (!this.active(now, intervalMs)) {
          this.episodes++;
          began = [source, last.source];
        }
        this.evidenceAt = now;
      }
      this.recent = [...(last ? [last] : []), { source, at: now }];
      return began;
    }
    return undefined;
  }

  /** Two masters were seen alternating within the last window. */
  active(now: number, intervalMs: number): boolean {
    return (
      this.evidenceAt !== undefined && now - this.evidenceAt <= SPLIT_BRAIN_WINDOW_INTERVALS * intervalMs
    );
  }

  /** Forget what was heard (the instance stopped, or left Backup/Master). */
  reset(): void {
    this.recent = [];
    this.evidenceAt = undefined;
  }
}
