// A request that must fail, as client-node reports it: the HTTP code and the Status body.
export interface Failure {
  code: number;
  body: {
    kind?: string;
    reason?: string;
    message?: string;
    details?: {
      name?: string;
      kind?: string;
      causes?: { field: string; message: string; reason?: string }[];
    };
  };
}

export async function failure(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (err) {
    const e = err as { code: number; body: string };
    const body = (typeof e.body === "string" ? JSON.parse(e.body) : e.body) as Failure["body"];
    return { code: e.code, body };
  }
  throw new Error("expected the request to fail");
}
