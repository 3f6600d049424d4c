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

/** Fewer slots than this make a failed server's share land too unevenly on the others. */
export const MIN_SLOTS = 120;

/**
 * A service's fixed number of slots, from its configured servers: a multiple of their weighted
 * slots (so all-healthy shares are exact) of at least MIN_SLOTS, at most MAX_SLOTS. Fixed, so that
 * a health change only rewrites slots and never the rule that counts them.
 */
export function slotCount(servers: readonly Destination[]): number {
  const base = Math.max(1, weightedSlots(servers).length);
  return Math.min(MAX_SLOTS, base * Math.max(1, Math.ceil(MIN_SLOTS / base)));
}

/**
 * `count` slots for the live destinations, in proportion to weight (largest remainder), keeping
 * every slot whose destination is still live and within its share: a failed server's slots go to
 * the others and nothing else moves, so an update touches only the slots that change.
 */
export function stableSlots(
  count: number,
  destinations: readonly Destination[],
  previous: readonly (Destination | undefined)[] = [],
): (Destination | undefined)[] {
  const live = destinations.filter((d) => d.weight > 0);
  if (live.length === 0) return Array.from({ length: count }, () => undefined);
  const id = (d: Destination) => `${d.address}|${d.port}`;
  const total = live.reduce((s, d) => s + d.weight, 0);
  const exact = live.map((d) => (count * d.weight) / total);
  const quota = exact.map(Math.floor);
  const byRemainder = live.map((_, i) => i).sort((a, b) => exact[b]! - quota[b]! - (exact[a]! - quota[a]!));
  for (let k = 0, left = count - quota.reduce((a, b) => a + b, 0); k < left; k++) quota[byRemainder[k]!]!++;
  const index = new Map(live.map((d, i) => [id(d), i]));
  const slots: (Destination | undefined)[] = Array.from({ length: count }, () => undefined);
  // Each live server keeps its previous slots up to its quota, spread evenly over the ones it had
  // (keeping the first few would bunch the freed slots at the end of the cycle).
  const held = live.map((): number[] => []);
  previous.forEach((d, s) => {
    const i = d && s < count ? index.get(id(d)) : undefined;
    if (i !== undefined) held[i]!.push(s);
  });
  held.forEach((mine, i) => {
    const keep = Math.min(quota[i]!, mine.length);
    for (let j = 0; j < keep; j++) slots[mine[Math.floor((j * mine.length) / keep)]!] = live[i];
    quota[i]! -= keep;
  });
  // The free slots, filled in smooth weighted order of the remaining quotas so they interleave.
  const current = quota.map(() => 0);
  const sum = quota.reduce((a, b) => a + b, 0);
  for (let s = 0; s < count; s++) {
    if (slots[s]) continue;
    let best = -1;
    for (let i = 0; i < live.length; i++) {
      if (quota[i]! === 0) continue;
      current[i]! += quota[i]!;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    current[best]! -= sum;
    quota[best]!--;
    slots[s] = live[best];
  }
  return slots;
}
