// The lab's cluster (src/lab/cluster-lab.ts) on the in-process API server (test/kubeapi), where any
// client may do anything: the fast form of the network tests. test/e2e runs it on a real server.
import { crds } from "../../src/api/crds.ts";
import { ClusterLab } from "../../src/lab/cluster-lab.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";

export { AGENT_NAMESPACE, ClusterLab } from "../../src/lab/cluster-lab.ts";

export async function inProcessCluster(prefix: string, nodes: number): Promise<ClusterLab<ApiServer>> {
  const api = await startApiServer({ crds: crds() });
  return ClusterLab.createWith(prefix, nodes, api, {
    agent: (hostPort) => api.kubeConfigYaml(`http://${hostPort}`),
    controller: () => api.kubeConfigYaml(),
  });
}
