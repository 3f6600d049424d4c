// Effective priority from tracked objects (scripts, interfaces, files, ...), with keepalived's
// semantics: a positive weight is added while the object is healthy, a negative weight is added
// (so subtracted) while it has failed, and weight 0 puts the instance in Fault while it has failed.
// `reverse` flips the sign of the adjustment. The result stays within 1..254; the address owner
// (255) keeps 255 and can only be moved by a fault.
import { OWNER_PRIORITY } from "./instance.ts";

export interface TrackedState {
  name: string;
  weight: number;
  reverse?: boolean;
  healthy: boolean;
}

export interface EffectivePriority {
  priority: number;
  fault: boolean;
  /** The weight-0 objects that have failed. */
  faultedBy: string[];
}

export const MIN_PRIORITY = 1;
export const MAX_BACKUP_PRIORITY = 254;

export function effectivePriority(base: number, tracked: readonly TrackedState[]): EffectivePriority {
  let priority = base;
  const faultedBy: string[] = [];
  for (const t of tracked) {
    if (t.weight === 0) {
      if (!t.healthy) faultedBy.push(t.name);
      continue;
    }
    const applies = t.weight > 0 ? t.healthy : !t.healthy;
    if (applies) priority += t.reverse ? -t.weight : t.weight;
  }
  if (base === OWNER_PRIORITY) priority = OWNER_PRIORITY;
  else priority = Math.min(MAX_BACKUP_PRIORITY, Math.max(MIN_PRIORITY, priority));
  return { priority, fault: faultedBy.length > 0, faultedBy };
}
