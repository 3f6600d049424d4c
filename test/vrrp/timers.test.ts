import { describe, expect, it } from "vitest";
import { masterDownIntervalMs, skewTimeMs } from "../../src/vrrp/timers.ts";

describe("derived timers", () => {
  it("v3 scales Skew_Time with Master_Adver_Interval (RFC 9568 6.1)", () => {
    expect(skewTimeMs(3, 100, 1000)).toBeCloseTo((156 * 1000) / 256, 9);
    expect(skewTimeMs(3, 100, 100)).toBeCloseTo((156 * 100) / 256, 9);
    expect(masterDownIntervalMs(3, 100, 1000)).toBeCloseTo(3000 + 609.375, 9);
    // The figure measured against keepalived at 100 ms adverts: ~362 ms from the last advert.
    expect(masterDownIntervalMs(3, 100, 100)).toBeCloseTo(360.9375, 9);
  });

  it("v2 keeps Skew_Time in seconds, whatever the interval (RFC 3768 6.1)", () => {
    expect(skewTimeMs(2, 100, 1000)).toBeCloseTo(609.375, 9);
    expect(skewTimeMs(2, 100, 3000)).toBeCloseTo(609.375, 9);
    expect(masterDownIntervalMs(2, 100, 3000)).toBeCloseTo(9609.375, 9);
  });

  it("a higher priority gives a shorter skew, so it wins the race to master", () => {
    for (let p = 1; p < 254; p++) expect(skewTimeMs(3, p + 1, 1000)).toBeLessThan(skewTimeMs(3, p, 1000));
    expect(skewTimeMs(3, 255, 1000)).toBeCloseTo(1000 / 256, 9);
  });
});
