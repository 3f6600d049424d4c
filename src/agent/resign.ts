// The supervisor's emergency path when the engine died: priority 0 for each instance the engine
// held as master (so backups take over after Skew_Time, as after a graceful stop) and removal of
// their routes, rules and addresses (so no node but the new master answers for them).
import type { Logger } from "pino";
import { buildAdvert, RESIGN_PRIORITY } from "../vrrp/instance.ts";
import { sendAdvert } from "../engine/adverts.ts";
import { openHostNetwork, type HostNetwork } from "../engine/host.ts";
import { withoutOwnAddresses, type InstancePlan } from "../plan/plan.ts";

export interface Resigner {
  resign(instanceKeys: string[]): Promise<void>;
  /** The engine's plan changed in place: resign for these from now on (their sockets opened). */
  setPlans(plans: readonly InstancePlan[]): Promise<void>;
  /** Closes the prepared sockets (they would keep the process alive). */
  close(): void;
}

/**
 * Opens the sockets a resignation needs ahead of time, so that a crash costs no set-up: the
 * priority-0 adverts leave within a millisecond of the engine's death. If the prepared sockets
 * fail (an interface re-created since), it opens them afresh and tries once more.
 */
export async function prepareResign(initial: readonly InstancePlan[], log: Logger): Promise<Resigner> {
  let plans = initial;
  let host: HostNetwork | undefined = await openHostNetwork(plans, log, undefined).catch((err: unknown) => {
    log.warn({ err: (err as Error).message }, "resign sockets not prepared; they will be opened on need");
    return undefined;
  });
  const resign = async (keys: string[]) => {
    if (!plans.some((p) => keys.includes(p.key))) return;
    host ??= await openHostNetwork(plans, log, undefined);
    const chosen = withoutOwnAddresses(
      plans.filter((p) => keys.includes(p.key)),
      host.localAddresses,
    );
    if (!sendPriorityZero(host, chosen, log)) {
      host.close();
      host = await openHostNetwork(plans, log, undefined);
      sendPriorityZero(host, chosen, log, true);
    }
    await host.routes.remove(
      chosen.flatMap((p) => p.routes ?? []),
      chosen.flatMap((p) => p.rules ?? []),
    );
    await host.addresses.release(chosen.flatMap((p) => p.addresses));
    log.warn({ instances: keys }, "resigned and released addresses for the dead engine");
  };
  return {
    resign,
    async setPlans(next) {
      plans = next;
      try {
        await host?.use(next);
      } catch (err) {
        // Opened afresh on need (resign), when the interfaces may be there.
        host?.close();
        host = undefined;
        throw err;
      }
    },
    close: () => {
      host?.close();
      host = undefined;
    },
  };
}

/** Sends priority 0 for each plan; false if any send failed. */
function sendPriorityZero(
  host: HostNetwork,
  plans: readonly InstancePlan[],
  log: Logger,
  last = false,
): boolean {
  let ok = true;
  for (const plan of plans) {
    const advert = buildAdvert(
      { ...plan, addresses: plan.addresses.map((a) => a.address), ...(plan.auth ? { auth: plan.auth } : {}) },
      RESIGN_PRIORITY,
    );
    const { errors } = sendAdvert(host.vrrpPort(plan), plan, advert);
    if (errors.length > 0) ok = false;
    if (last)
      for (const e of errors) log.error({ instance: plan.key, err: e.error.message }, "priority 0 not sent");
  }
  return ok;
}
