import { describe, expect, it } from "vitest";
import { parseAddressEvent } from "../../src/lab/holder-watch.ts";

describe("parseAddressEvent", () => {
  it("reads an added, a renewed and a deleted address from `ip -ts -o monitor address`, with ip's time", () => {
    const added = parseAddressEvent(
      "[2026-12-05T11:05:16.668094] 2: eth0    inet 198.18.0.50/24 scope global secondary eth0\\       valid_lft 2sec preferred_lft 2sec",
    );
    expect(added).toEqual({
      at: new Date("2026-12-05T11:05:16.668").getTime(),
      address: "198.18.0.50",
      held: true,
    });
    expect(
      parseAddressEvent(
        "[2026-12-05T11:05:16.701780] Deleted 2: eth0    inet6 2001:DB8::50/64 scope global \\       valid_lft 1sec",
      ),
    ).toMatchObject({ address: "2001:db8::50", held: false });
    expect(
      parseAddressEvent("[2026-12-05T11:05:16.701780] 3: eth0    link/ether 02:00:00:00:00:11"),
    ).toBeUndefined();
  });
});
