// VRIDs as an IPPool sees them: each segment its generated routers speak on, how many of the
// segment's 255 VRIDs are in use (by any VirtualRouter), and which of its routers got none because
// none was left (the router controller's VRIDConflict condition, reason VRIDsExhausted). Pure.
import { segmentKeys, segmentText, VRIDS_EXHAUSTED, type RouterObject } from "../cluster/routers.ts";
import { LABEL_MANAGED, LABEL_POOL, MANAGER } from "./services.ts";

/** A router as the controller's cache holds it: with the VRID and conditions the controller wrote. */
export type RouterSeen = Omit<RouterObject, "status"> & {
  status?: RouterObject["status"] & {
    conditions?: readonly { type: string; reason: string; message: string }[];
  };
};

export interface SegmentVrids {
  /** The network, and the interface when the routers name one ("198.18.0.0/24 on eth0"). */
  segment: string;
  /** VRIDs in use on the segment, by any VirtualRouter. */
  used: number;
  free: number;
  /** The pool's generated routers on the segment. */
  routers: number;
  /** Of those, the ones that got no VRID because none was left. */
  waiting: number;
}

export interface PoolCondition {
  type: string;
  status: "True" | "False";
  reason: string;
  message: string;
}

export const VRID_COUNT = 255;

const isPools = (r: RouterSeen, pool: string) =>
  r.metadata.labels?.[LABEL_MANAGED] === MANAGER && r.metadata.labels?.[LABEL_POOL] === pool;

/** The router controller's word that a router runs without a VRID because its segment has none left. */
export function exhaustion(r: RouterSeen): string | undefined {
  const c = r.status?.conditions?.find((c) => c.type === "VRIDConflict" && c.reason === VRIDS_EXHAUSTED);
  return c?.message;
}

/** VRID use on each segment of the pool's generated routers, and the pool's VRIDsExhausted condition. */
export function poolVrids(
  pool: string,
  routers: readonly RouterSeen[],
): { segments: SegmentVrids[]; condition: PoolCondition } {
  const live = routers.filter((r) => !r.metadata.deletionTimestamp);
  const segments = new Map<string, { vrids: Set<number>; mine: string[]; waiting: string[] }>();
  for (const r of live)
    if (isPools(r, pool))
      for (const key of segmentKeys(r)) {
        const s =
          segments.get(key) ?? segments.set(key, { vrids: new Set(), mine: [], waiting: [] }).get(key)!;
        s.mine.push(r.metadata.name);
        if (exhaustion(r) !== undefined) s.waiting.push(r.metadata.name);
      }
  for (const r of live) {
    const vrid = r.status?.vrid;
    if (vrid === undefined) continue;
    for (const key of segmentKeys(r)) segments.get(key)?.vrids.add(vrid);
  }
  const out = [...segments]
    .map(([key, s]) => ({
      segment: segmentText(key),
      used: s.vrids.size,
      free: Math.max(0, VRID_COUNT - s.vrids.size),
      routers: s.mine.length,
      waiting: s.waiting.length,
      names: s.waiting.sort((a, b) => a.localeCompare(b, "en", { numeric: true })),
    }))
    .sort((a, b) => a.segment.localeCompare(b.segment, "en", { numeric: true }));
  const short = out.filter((s) => s.waiting > 0);
  const condition: PoolCondition =
    short.length > 0
      ? {
          type: "VRIDsExhausted",
          status: "True",
          reason: "NoVRIDLeft",
          message: short
            .map((s) => {
              const listed =
                s.names.slice(0, 3).join(", ") +
                (s.names.length > 3 ? `, and ${s.names.length - 3} more` : "");
              return `${s.segment}: all ${VRID_COUNT} VRIDs are in use and ${s.waiting} more generated router${s.waiting === 1 ? " needs" : "s need"} one (${listed}); their Services' addresses are not announced`;
            })
            .join("; "),
        }
      : {
          type: "VRIDsExhausted",
          status: "False",
          reason: "VRIDsAvailable",
          message: "no generated router of the pool is short of a VRID",
        };
  return { segments: out.map(({ names: _names, ...s }) => s), condition };
}
