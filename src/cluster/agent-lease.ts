// The agent lease as the controller and the agents agree on it: each agent keeps a labelled
// coordination.k8s.io Lease for its node (cluster-mode/agent-lease.ts renews it), and the controller
// watches Leases with the label and counts an agent live for the lease's duration after a change.
export const AGENT_LEASE_LABEL = "vipkeeper.io/agent-lease";
export const AGENT_LEASE_SECONDS = 20;

/** The one liveness rule: an agent is live within the lease's duration of its last seen renewal. */
export function agentLive(renewedAt: number | undefined, now: number): boolean {
  return renewedAt !== undefined && now - renewedAt < AGENT_LEASE_SECONDS * 1000;
}
