// keepalived's virtual_routes and virtual_rules lines (ip route / ip rule syntax) to the
// VirtualRouter's routes and rules. A line with anything vipkeeper cannot carry over (multipath
// `or`, other options) is left out whole and reported: a route that differs from what the file
// says would steer traffic elsewhere, which is worse than none.
import { parseCidr } from "../base/ip.ts";
import type { VirtualRoute, VirtualRule } from "../api/routes.ts";
import { familyOf } from "../base/ip.ts";
import type { Statement } from "./syntax.ts";

export type Converted<T> = { value: T } | { problem: string };

const TYPES: Record<string, VirtualRoute["type"]> = {
  unicast: "Unicast",
  blackhole: "Blackhole",
  unreachable: "Unreachable",
  prohibit: "Prohibit",
};
const SCOPES: Record<string, VirtualRoute["scope"]> = {
  global: "Global",
  site: "Site",
  link: "Link",
  host: "Host",
};
const TABLES: Record<string, number> = { main: 254, default: 253 };

const tableId = (text: string) => TABLES[text] ?? (/^\d+$/.test(text) ? Number(text) : undefined);
const number = (text: string | undefined) =>
  text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;

/** `[TYPE] [src ADDR] [to] PREFIX [via|gw ADDR] [dev D] [table T] [metric|preference|priority N] [scope S]` */
export function convertRoute(s: Statement): Converted<VirtualRoute> {
  const words = [s.keyword, ...s.args];
  const route: Partial<VirtualRoute> = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const next = words[i + 1];
    const take = () => {
      i++;
      return next;
    };
    if (TYPES[w] && route.to === undefined) route.type = TYPES[w];
    else if ((w === "via" || w === "gw") && next) route.via = take()!;
    else if (w === "src" && next) route.src = take()!;
    else if (w === "dev" && next) route.dev = take()!;
    else if (w === "table" && next) {
      const t = tableId(take()!);
      if (t === undefined) return { problem: `table '${next}' is not a number, main or default` };
      route.table = t;
    } else if ((w === "metric" || w === "preference" || w === "priority") && next) {
      const m = number(take());
      if (m === undefined) return { problem: `${w} '${next}' is not a number` };
      route.metric = m;
    } else if (w === "scope" && next) {
      const scope = SCOPES[take()!];
      if (!scope) return { problem: `scope '${next}' is not global, site, link or host` };
      route.scope = scope;
    } else if (w === "to" && next && route.to === undefined) route.to = prefix(take()!);
    else if (route.to === undefined && !["via", "gw", "src", "dev", "table", "metric", "scope"].includes(w))
      route.to = prefix(w);
    else return { problem: `'${w}' is not supported in a route (the line is left out)` };
  }
  if (route.to === undefined) return { problem: "no destination" };
  // `default` names no family: the gateway's or source's says which.
  if (route.to === "0.0.0.0/0" && [route.via, route.src].some((a) => a !== undefined && familyOf(a) === 6))
    route.to = "::/0";
  if (!parseCidr(route.to)) return { problem: `'${route.to}' is not an address or prefix` };
  if (route.table === 255) return { problem: "table 255 (local) is the kernel's own" };
  if (route.type === "Unicast") delete route.type;
  if (route.via === undefined && route.dev === undefined && route.type === undefined)
    return { problem: "a route with neither via nor dev" };
  return { value: route as VirtualRoute };
}

/** `[from PREFIX] [to PREFIX] [fwmark M[/MASK]] [iif D] [oif D] [priority|preference|pref N] table|lookup T` */
export function convertRule(s: Statement): Converted<VirtualRule> {
  const words = [s.keyword, ...s.args];
  const rule: Partial<VirtualRule> = {};
  for (let i = 0; i < words.length; i += 2) {
    const key = words[i]!;
    const value = words[i + 1];
    if (value === undefined) return { problem: `'${key}' needs a value` };
    if (key === "from" || key === "to") {
      if (value !== "all") rule[key] = prefix(value);
    } else if (key === "table" || key === "lookup") {
      const t = tableId(value);
      if (t === undefined || t === 255)
        return { problem: `table '${value}' is not a table a rule may look up` };
      rule.table = t;
    } else if (key === "priority" || key === "preference" || key === "pref") {
      const p = number(value);
      if (p === undefined || p < 1 || p > 32765) return { problem: `priority '${value}' is not 1..32765` };
      rule.priority = p;
    } else if (key === "fwmark") {
      const [mark, mask] = value.split("/").map((v) => (/^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : NaN));
      if (mark === undefined || Number.isNaN(mark) || (mask !== undefined && Number.isNaN(mask)))
        return { problem: `fwmark '${value}' is not a number` };
      rule.fwmark = mark;
      if (mask !== undefined) rule.fwmask = mask;
    } else if (key === "iif" || key === "oif") rule[key] = value;
    else return { problem: `'${key}' is not supported in a rule (the line is left out)` };
  }
  if (rule.table === undefined) return { problem: "a rule without a table" };
  // keepalived's own default ("Rule has no preference specified - setting to 16383").
  rule.priority ??= 16383;
  for (const k of ["from", "to"] as const)
    if (rule[k] !== undefined && !parseCidr(rule[k]))
      return { problem: `'${rule[k]}' is not an address or prefix` };
  return { value: rule as VirtualRule };
}

/** keepalived and ip take `default` for the whole family and a bare address as a host prefix. */
function prefix(text: string): string {
  if (text === "default") return "0.0.0.0/0";
  if (text.includes("/")) return text;
  const family = familyOf(text);
  return family === undefined ? text : `${text}/${family === 4 ? 32 : 128}`;
}
