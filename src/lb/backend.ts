// The dataplane interface both backends implement, and the choice between them: "auto" takes IPVS
// when the kernel has it (the genetlink family resolves, loading ip_vs on demand, or /proc/net/ip_vs
// exists), nftables otherwise; the agent's --lb-backend forces either.
import { existsSync } from "node:fs";
import type { VirtualService } from "./model.ts";
import { applyNft, listTable, NftError, NftSession } from "./nft-apply.ts";
import { NftablesPlan, TABLE, tableObjects } from "./nftables.ts";
import { applyHealth } from "./nft-persist.ts";
import { IpvsDataplane } from "./ipvs.ts";
import { IpvsNetlink } from "./ipvs-socket.ts";

export type BackendName = "ipvs" | "nftables";
export type BackendChoice = BackendName | "auto";

export interface Dataplane {
  readonly name: BackendName;
  /** One real server's health changed; resolves when the dataplane has it. */
  setHealth(serviceKey: string, server: string, healthy: boolean): Promise<unknown>;
  /** Stops changing the dataplane and leaves it in place (a restarted agent adopts it). */
  stop(): void;
}

export function parseBackendChoice(text: string | undefined): BackendChoice {
  const v = text ?? "auto";
  if (v === "auto" || v === "ipvs" || v === "nftables") return v;
  throw new Error(`--lb-backend: '${v}' is not one of auto, ipvs, nftables`);
}

/** Whether the kernel offers IPVS to this process. */
export async function ipvsAvailable(): Promise<boolean> {
  if (existsSync("/proc/net/ip_vs")) return true;
  try {
    const nl = await IpvsNetlink.open();
    nl?.close();
    return nl !== undefined;
  } catch {
    return false;
  }
}

export async function chooseBackend(config: { backend?: BackendChoice }): Promise<BackendName> {
  const c = config.backend ?? "auto";
  if (c !== "auto") return c;
  return (await ipvsAvailable()) ? "ipvs" : "nftables";
}

class NftablesDataplane implements Dataplane {
  readonly name = "nftables" as const;
  private readonly plan: NftablesPlan;
  private readonly session: NftSession;
  constructor(plan: NftablesPlan) {
    this.plan = plan;
    this.session = new NftSession(TABLE);
  }
  setHealth(serviceKey: string, server: string, healthy: boolean): Promise<void> {
    // The slot change, then (persistence) the failed server's clients evicted.
    return applyHealth(this.session, this.plan, { service: serviceKey, server, healthy });
  }
  stop(): void {
    this.session.close();
  }
}

/** Programs the services with the named backend and returns the running dataplane. */
export async function startDataplane(
  name: BackendName,
  services: readonly VirtualService[],
  options: { ownerFile?: string } = {},
): Promise<{ dataplane: Dataplane & { reconcile?: () => Promise<unknown> }; detail?: unknown }> {
  if (name === "ipvs") {
    const { dataplane, report } = await IpvsDataplane.start(services, options.ownerFile);
    return { dataplane, detail: report };
  }
  const plan = new NftablesPlan(services);
  const { madeAnew } = await replaceTable(plan);
  return {
    dataplane: new NftablesDataplane(plan),
    ...(madeAnew ? { detail: { tableMadeAnew: madeAnew } } : {}),
  };
}

/**
 * Puts the plan's whole table in place of what is there (renderTable), from a listing of it. When
 * what is there cannot be kept (a base chain defined otherwise, as by another version) the failed
 * transaction changed nothing, and the table is deleted and made anew instead: `madeAnew` says why.
 */
export async function replaceTable(plan: NftablesPlan, netns?: string): Promise<{ madeAnew?: string }> {
  try {
    await applyNft(plan.initial(tableObjects(await listTable(TABLE, netns))), netns);
    return {};
  } catch (err) {
    if (!(err instanceof NftError)) throw err;
    await applyNft(plan.initial(), netns);
    return { madeAnew: err.message };
  }
}
