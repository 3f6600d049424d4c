// Sending one advert for a planned instance: to its unicast peers, or to the VRRP group.
import { encodeAdvert, VRRP_MULTICAST_V4, VRRP_MULTICAST_V6, type Advert } from "../vrrp/packet.ts";
import type { VrrpPort } from "./engine.ts";
import type { InstancePlan } from "../plan/plan.ts";

export function advertDestinations(plan: InstancePlan): string[] {
  if (plan.unicastPeers.length > 0) return plan.unicastPeers;
  return [plan.family === 4 ? VRRP_MULTICAST_V4 : VRRP_MULTICAST_V6];
}

/** Encodes (the v3 checksum depends on each destination) and sends; never throws. */
export function sendAdvert(
  port: VrrpPort,
  plan: InstancePlan,
  advert: Advert,
): { sent: number; errors: { destination: string; error: Error }[] } {
  let sent = 0;
  const errors: { destination: string; error: Error }[] = [];
  for (const destination of advertDestinations(plan)) {
    try {
      const path = { family: plan.family, source: port.sourceAddress, destination };
      port.send(encodeAdvert(advert, path, plan.checksumForm), destination);
      sent++;
    } catch (err) {
      errors.push({ destination, error: err as Error });
    }
  }
  return { sent, errors };
}
