// Sending one advert for a planned instance: to its unicast peers, or to the VRRP group.
import { encodeAdvert, VRRP_MULTICAST_V4, VRRP_MULTICAST_V6, type Advert } from "../vrrp/packet.ts";
import type { VrrpPort } from "./engine.ts";
import type { InstancePlan } from "../plan/plan.ts";

export function advertDestinations(plan: InstancePlan): string[] {
  if (plan.unicastPeers.length > 0) return plan.unicastPeers;
  return [plan.family === 4 ? VRRP_MULTICAST_V4 : VRRP_MULTICAST_V6];
}

/**
 * The adverts an instance encoded last, one per destination: sent again as they are while the
 * advert stays the same (a master's every interval), encoded again when its priority, addresses
 * or source change.
 */
export interface EncodedAdverts {
  priority: number;
  addresses: readonly string[];
  source: string;
  destinations: readonly string[];
  payloads: Buffer[];
}

/**
 * Encodes (the v3 checksum depends on each destination) and sends; never throws. With `cache`,
 * the encoded adverts are kept in `cache.encoded` and sent again while the advert is the same.
 */
export function sendAdvert(
  port: VrrpPort,
  plan: InstancePlan,
  advert: Advert,
  cache?: { encoded?: EncodedAdverts | undefined },
): { sent: number; errors: { destination: string; error: Error }[] } {
  let sent = 0;
  const errors: { destination: string; error: Error }[] = [];
  const destinations = advertDestinations(plan);
  const source = port.sourceAddress;
  let reuse = cache?.encoded;
  if (
    reuse &&
    !(
      reuse.priority === advert.priority &&
      reuse.addresses === advert.addresses &&
      reuse.source === source &&
      reuse.destinations.length === destinations.length &&
      reuse.destinations.every((d, i) => d === destinations[i])
    )
  )
    reuse = undefined;
  const payloads: Buffer[] = [];
  let complete = true;
  for (let i = 0; i < destinations.length; i++) {
    const destination = destinations[i]!;
    try {
      let payload = reuse?.payloads[i];
      if (!payload) {
        const path = { family: plan.family, source, destination };
        payload = encodeAdvert(advert, path, plan.checksumForm);
      }
      payloads.push(payload);
      port.send(payload, destination);
      sent++;
    } catch (err) {
      if (payloads.length <= i) complete = false;
      errors.push({ destination, error: err as Error });
    }
  }
  // Kept only when every destination's advert was made. The instance's address list is replaced,
  // never changed in place, so its identity tells a change.
  if (cache)
    cache.encoded = complete
      ? { priority: advert.priority, addresses: advert.addresses, source, destinations, payloads }
      : undefined;
  return { sent, errors };
}
