// The supervisor's emergency path when the engine died: priority 0 for each instance the engine
// held as master (so backups take over after Skew_Time, as after a graceful stop) and removal of
// their addresses (so no node but the new master answers for them).
import type { Logger } from "pino";
import { buildAdvert, RESIGN_PRIORITY } from "../vrrp/instance.ts";
import { sendAdvert } from "./adverts.ts";
import { openHostNetwork } from "./host.ts";
import type { InstancePlan } from "./plan.ts";

export async function resignInstances(plans: readonly InstancePlan[], log: Logger): Promise<void> {
  if (plans.length === 0) return;
  const host = await openHostNetwork(plans, log, undefined);
  try {
    for (const plan of plans) {
      const advert = buildAdvert(
        {
          ...plan,
          addresses: plan.addresses.map((a) => a.address),
          ...(plan.auth ? { auth: plan.auth } : {}),
        },
        RESIGN_PRIORITY,
      );
      const { errors } = sendAdvert(host.vrrpPort(plan), plan, advert);
      for (const e of errors) log.error({ instance: plan.key, err: e.error.message }, "priority 0 not sent");
    }
    await host.addresses.release(plans.flatMap((p) => p.addresses));
    log.warn({ instances: plans.map((p) => p.key) }, "resigned and released addresses for the dead engine");
  } finally {
    host.close();
  }
}
