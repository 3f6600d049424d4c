// Weighted scheduling for dataplanes that pick by number (nftables' numgen and jhash): a sequence
// of slots in which each destination appears in proportion to its weight, interleaved the way
// smooth weighted round robin orders them, so consecutive picks spread instead of bunching.
import type { Destination } from "./model.ts";

/** At most this many slots per service: weights are scaled down to fit, keeping proportions. */
export const MAX_SLOTS = 256;

export function weightedSlots(destinations: readonly Destination[]): Destination[] {
  const live = destinations.filter((d) => d.weight > 0);
  if (live.length === 0) return [];
  const total = live.reduce((s, d) => s + d.weight, 0);
  const scale = total > MAX_SLOTS ? MAX_SLOTS / total : 1;
  const weights = live.map((d) => Math.max(1, Math.round(d.weight * scale)));
  const sum = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  const slots: Destination[] = [];
  for (let n = 0; n < sum; n++) {
    let best = 0;
    for (let i = 0; i < live.length; i++) {
      current[i]! += weights[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= sum;
    slots.push(live[best]!);
  }
  return slots;
}
