// Persistence after a health change: clients the persistence map still sends to a real server
// that left (a failed one, or the sorry server once real servers are back, as IPVS drops its
// templates with the dest) are forgotten, so their next connection is scheduled afresh. The slots change first
// (new clients stop going there at once); the eviction follows as a transaction of its own, read
// from a listing of the one map (nft loads only that set). An entry may expire between listing and
// delete, which fails the delete as a whole: then it lists again.
import { nftOutput, type NftSession } from "./nft-apply.ts";
import { persistMapName, renderEvictions, TABLE, type NftablesPlan } from "./nftables.ts";

const listMap = (name: string, netns?: string) => nftOutput(["list", "map", "inet", TABLE, name], netns);

/** Deletes the service's persistence entries that point at servers it no longer uses. */
export async function evictPersisted(
  session: NftSession,
  plan: NftablesPlan,
  serviceKey: string,
  netns?: string,
): Promise<number> {
  const svc = plan.service(serviceKey);
  if (!svc?.persistence) return 0;
  for (let attempt = 1; ; attempt++) {
    const script = renderEvictions(svc, await listMap(persistMapName(svc), netns), plan.slots(serviceKey));
    if (!script) return 0;
    try {
      await session.apply(script);
      return script.split(",").length;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

/** A health change as the agent applies it: the slots, then (persistent services) the evictions. */
export async function applyHealth(
  session: NftSession,
  plan: NftablesPlan,
  change: { service: string; server: string; healthy: boolean },
  netns?: string,
): Promise<void> {
  // Only a persistent service with a sorry server can hold clients there: others skip the scan of
  // their slots (a flip is the hot path).
  const svc = plan.service(change.service);
  const sorryServed = () => plan.slots(change.service).some((d) => d?.sorry);
  const sorryBefore = !!svc?.persistence && !!svc.sorryServer && sorryServed();
  await session.apply(plan.setHealth(change.service, change.server, change.healthy));
  if (!change.healthy || (sorryBefore && !sorryServed()))
    await evictPersisted(session, plan, change.service, netns);
}
