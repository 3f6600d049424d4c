// Named counters with labels (drops by reason, adverts, transitions): read by --status now and
// exported as Prometheus metrics later, so names and labels follow Prometheus conventions.
export type Labels = Record<string, string>;

function keyOf(name: string, labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`);
  return parts.length ? `${name}{${parts.join(",")}}` : name;
}

export interface CounterEntry {
  name: string;
  labels: Labels;
  value: number;
}

export class Counters {
  private readonly values = new Map<string, { name: string; labels: Labels; value: number }>();

  add(name: string, labels: Labels = {}, by = 1): void {
    const key = keyOf(name, labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { name, labels, value: by });
  }

  /**
   * add() for one name and label set, with its key worked out once: for counters moved on every
   * advert. The counter appears (in entries(), snapshot()) at its first add, as with add().
   */
  adder(name: string, labels: Labels = {}): (by?: number) => void {
    const key = keyOf(name, labels);
    let entry: { name: string; labels: Labels; value: number } | undefined;
    return (by = 1) => {
      entry ??= this.values.get(key);
      if (entry) entry.value += by;
      else this.values.set(key, (entry = { name, labels, value: by }));
    };
  }

  get(name: string, labels: Labels = {}): number {
    return this.values.get(keyOf(name, labels))?.value ?? 0;
  }

  /** The sum over every label set of a counter. */
  total(name: string, match: Labels = {}): number {
    let sum = 0;
    for (const e of this.values.values())
      if (e.name === name && Object.entries(match).every(([k, v]) => e.labels[k] === v)) sum += e.value;
    return sum;
  }

  /** Every counter with its labels, for export. */
  entries(): CounterEntry[] {
    return [...this.values.values()].map((e) => ({ ...e, labels: { ...e.labels } }));
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values].map(([k, e]) => [k, e.value]));
  }
}

/** Counters of several engines as one `name{labels}: value` document (--status-socket), summed. */
export function sumCounters(entries: readonly CounterEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) {
    const key = keyOf(e.name, e.labels);
    out[key] = (out[key] ?? 0) + e.value;
  }
  return out;
}
