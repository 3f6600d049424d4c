// An instance is one router's election for one address family. Inside the agent it is named by one
// key, "<router>/ipv4" or "<router>/ipv6" (counters, logs, the status socket); Prometheus gets the
// two parts as labels `router` and `family`, since its own `instance` label names the scrape target.

export function instanceKey(router: string, family: 4 | 6): string {
  return `${router}/ipv${family}`;
}

/** The labels of an instance key; a key of another shape is kept whole as the router. */
export function instanceLabels(key: string): { router: string; family: string } {
  const m = /^(.*)\/(ipv[46])$/.exec(key);
  return m ? { router: m[1]!, family: m[2]! } : { router: key, family: "" };
}
