// The in-process Kubernetes API server for tests, as one small interface. @kubernetes/client-node
// talks to it unchanged over HTTP (a KubeConfig whose cluster server is http://127.0.0.1:PORT).
//
//   const api = await startApiServer({ crds });   // crds: apiextensions.k8s.io/v1 CRD objects
//   api.url                  http://127.0.0.1:PORT
//   api.kubeConfig()         a KubeConfig for client-node; api.kubeConfigYaml() for a process
//   api.compact()            forget history: watches from an older resourceVersion get 410 Gone
//   api.cutWatches()         end every open watch stream, as an API server restart would
//   api.setUnavailable(b)    while true every request gets 503 and watches are cut (an outage)
//   api.peek(plural, name, namespace?)   the stored object, for assertions
//   await api.close()
//
// The implementation is test/kubeapi/server.ts (it predates this entry point and the controller,
// agents and lab already use it); this module adds the start-time check that every CEL rule in the
// CRDs calls only functions the server implements (cel-check.ts), so an unsupported rule fails
// loudly at start. What the server models and what it leaves out is listed at the top of
// test/kubeapi/server.ts; test/apiserver/*.test.ts check it against documented Kubernetes behaviour.
// cel-kubernetes.ts holds Kubernetes' CEL IP and CIDR libraries (ip(), cidr(), family(), containsIP(),
// masked()...) for @bufbuild/cel; the server evaluates rules with its own isIP/isCIDR until it adopts them.
import { startApiServer as startKubeApi, type ApiServer, type ApiServerOptions } from "../kubeapi/server.ts";
import { checkCrdRules } from "./cel-check.ts";

export type { ApiServer, ApiServerOptions };
export { SUPPORTED_CEL_FUNCTIONS, unsupportedCalls } from "./cel-check.ts";

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  for (const crd of opts.crds ?? []) checkCrdRules(crd);
  return startKubeApi(opts);
}
