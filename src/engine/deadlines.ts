// The deadlines of the engine's instances on one clock timer, set for the earliest of them.
// A backup's Master_Down_Timer moves on with every advert it hears: moving its entry in a heap
// costs far less than a timer of its own set again for every advert (or woken every Master_Down
// interval to find it moved), and a master's next advert needs no timer object of its own.
// Entries due at the same instant come out in the order their deadlines were set, as timers do.
import type { Clock } from "./engine.ts";

/**
 * What is due this soon after the timer fires is done at once. Node's timers count whole
 * milliseconds on the event loop's clock, which runs up to a millisecond behind `clock.now()`: a
 * timer set for a deadline can fire just before it, and waking again within the millisecond
 * would cost a second wakeup for every round (measured: twice the master's wakeups at 255 routers).
 */
export const TIMER_SLACK_MS = 1;

interface Entry<T> {
  item: T;
  due: number;
  seq: number;
  slot: number;
}

export class Deadlines<T> {
  private readonly heap: Entry<T>[] = [];
  private readonly entries = new Map<T, Entry<T>>();
  private seq = 0;
  private timer: { cancel(): void } | undefined;
  private timerAt = 0;
  private firing = false;

  private readonly clock: Clock;
  private readonly onDue: (item: T, due: number) => void;
  private readonly beforeDue: (() => void) | undefined;

  /**
   * onDue gets each item with its deadline, which can be up to TIMER_SLACK_MS after now.
   * beforeDue runs when the timer fires, before what is due is taken: the engine reads its
   * sockets there, so that an advert that came in time moves its deadline before it is acted on.
   */
  constructor(clock: Clock, onDue: (item: T, due: number) => void, beforeDue?: () => void) {
    this.clock = clock;
    this.onDue = onDue;
    this.beforeDue = beforeDue;
  }

  /** The item's deadline from now on (undefined: none). */
  set(item: T, due: number | undefined): void {
    let e = this.entries.get(item);
    if (due === undefined) {
      if (e) this.remove(e);
    } else if (!e) {
      e = { item, due, seq: this.seq++, slot: this.heap.length };
      this.entries.set(item, e);
      this.heap.push(e);
      this.up(e.slot);
    } else if (e.due !== due) {
      const later = due > e.due;
      e.due = due;
      e.seq = this.seq++;
      if (later) this.down(e.slot);
      else this.up(e.slot);
    }
    if (!this.firing) this.arm();
  }

  /** Fires what is due, in order; the items' new deadlines are set by onDue. */
  private fire(): void {
    this.timer = undefined;
    this.firing = true;
    try {
      this.beforeDue?.();
      // Taken out first: an item whose deadline is set again for now waits for the next round.
      const due: Entry<T>[] = [];
      const until = this.clock.now() + TIMER_SLACK_MS;
      while (this.heap.length > 0 && this.heap[0]!.due <= until) {
        const e = this.heap[0]!;
        due.push(e);
        this.remove(e);
      }
      for (const e of due) this.onDue(e.item, e.due);
    } finally {
      this.firing = false;
      this.arm();
    }
  }

  /** The timer is set for the earliest deadline; one set before it stays (it finds nothing due). */
  private arm(): void {
    const first = this.heap[0];
    if (!first) {
      this.timer?.cancel();
      this.timer = undefined;
      return;
    }
    if (this.timer && this.timerAt <= first.due) return;
    this.timer?.cancel();
    const now = this.clock.now();
    this.timerAt = Math.max(now, first.due);
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, first.due - now));
  }

  private remove(e: Entry<T>): void {
    this.entries.delete(e.item);
    const last = this.heap.pop()!;
    if (last === e) return;
    this.heap[e.slot] = last;
    last.slot = e.slot;
    this.down(last.slot);
    this.up(last.slot);
  }

  private before(a: Entry<T>, b: Entry<T>): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private up(i: number): void {
    const { heap } = this;
    const e = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(e, heap[parent]!)) break;
      const moved = heap[parent]!;
      heap[i] = moved;
      moved.slot = i;
      i = parent;
    }
    heap[i] = e;
    e.slot = i;
  }

  private down(i: number): void {
    const { heap } = this;
    const e = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && this.before(heap[child + 1]!, heap[child]!)) child++;
      if (!this.before(heap[child]!, e)) break;
      const moved = heap[child]!;
      heap[i] = moved;
      moved.slot = i;
      i = child;
    }
    heap[i] = e;
    e.slot = i;
  }
}
