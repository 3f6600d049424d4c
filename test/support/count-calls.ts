// A client whose method calls are recorded by name, in order: for tests of how many requests,
// and which, a piece of code makes through it.
export function countCalls<T extends object>(target: T): { client: T; calls: string[] } {
  const calls: string[] = [];
  const client = new Proxy(target, {
    get: (t, prop) => {
      const v = Reflect.get(t, prop) as unknown;
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
  return { client, calls };
}
