// The protocol's derived timers, in milliseconds, exactly as the RFCs define them.

import type { VrrpVersion } from "./packet.ts";

/**
 * Skew_Time. v3 (RFC 9568 6.1): ((256 - Priority) * Master_Adver_Interval) / 256.
 * v2 (RFC 3768 6.1): (256 - Priority) / 256 seconds, independent of the advertisement interval.
 */
export function skewTimeMs(version: VrrpVersion, priority: number, masterAdverIntervalMs: number): number {
  return version === 3 ? ((256 - priority) * masterAdverIntervalMs) / 256 : ((256 - priority) * 1000) / 256;
}

/** Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time (v2: the router's own Advertisement_Interval). */
export function masterDownIntervalMs(
  version: VrrpVersion,
  priority: number,
  masterAdverIntervalMs: number,
): number {
  return 3 * masterAdverIntervalMs + skewTimeMs(version, priority, masterAdverIntervalMs);
}
