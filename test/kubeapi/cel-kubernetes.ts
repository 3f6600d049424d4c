// Kubernetes' CEL IP and CIDR libraries for @bufbuild/cel, as CRD validation rules use them:
// https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-ip-address-library
// https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-cidr-library
// ip() and cidr() return values of their own CEL types (net.IP, net.CIDR), so ip.family() exists
// and "x".family() does not. @bufbuild/cel only carries protobuf messages as object values, so the
// two types are one-field messages from a descriptor built here; pass KUBERNETES_CEL_ENV (funcs and
// registry) to run(). As in Kubernetes, IPv4 must be dotted-quad without leading zeros, and
// IPv4-mapped IPv6 addresses and zones are refused.
import { CelScalar, celFunc, celMethod, objectType } from "@bufbuild/cel";
import { create, createFileRegistry, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import ipaddr from "ipaddr.js";

const STRING_FIELD = 9; // FieldDescriptorProto.Type.TYPE_STRING
const OPTIONAL = 1; // FieldDescriptorProto.Label.LABEL_OPTIONAL
const file = create(FileDescriptorProtoSchema, {
  name: "vipkeeper_test_k8s_net.proto",
  package: "net",
  syntax: "proto3",
  messageType: ["IP", "CIDR"].map((name) => ({
    name,
    field: [{ name: "text", number: 1, type: STRING_FIELD, label: OPTIONAL, jsonName: "text" }],
  })),
});
const registry = createFileRegistry(file, () => undefined);
const IpDesc = registry.getMessage("net.IP") as DescMessage;
const CidrDesc = registry.getMessage("net.CIDR") as DescMessage;
const IP = objectType(IpDesc);
const CIDR = objectType(CidrDesc);

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

/** Parses an address the way Kubernetes' library accepts it, or undefined. */
export function parseKubeIp(s: string): Addr | undefined {
  if (s.includes("%") || s.includes("/")) return undefined;
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) {
    // netip.ParseAddr refuses leading zeros ("010.0.0.1").
    if (s.split(".").some((o) => o.length > 1 && o.startsWith("0"))) return undefined;
    return ipaddr.IPv4.parse(s);
  }
  if (!s.includes(":") || !ipaddr.IPv6.isValid(s)) return undefined;
  const a = ipaddr.IPv6.parse(s);
  return a.isIPv4MappedAddress() ? undefined : a;
}

/** Parses a CIDR as Kubernetes' library does (host bits may be set; masked() clears them). */
export function parseKubeCidr(s: string): [Addr, number] | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const addr = parseKubeIp(s.slice(0, slash));
  const bitsText = s.slice(slash + 1);
  if (!addr || !/^(0|[1-9]\d*)$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  return bits <= (addr.kind() === "ipv4" ? 32 : 128) ? [addr, bits] : undefined;
}

const text = (m: { get(f: unknown): unknown }, d: DescMessage) => m.get(d.fields[0]) as string;
const ipOf = (m: { get(f: unknown): unknown }) => parseKubeIp(text(m, IpDesc))!;
const cidrOf = (m: { get(f: unknown): unknown }) => parseKubeCidr(text(m, CidrDesc))!;
const makeIp = (a: Addr) => create(IpDesc, { text: a.toString() });
const makeCidr = (a: Addr, bits: number) => create(CidrDesc, { text: `${a.toString()}/${bits}` });

function must<T>(v: T | undefined, what: string, s: string): T {
  if (v === undefined) throw new Error(`${what} '${s}' is not valid`);
  return v;
}

function contains([net, bits]: [Addr, number], a: Addr): boolean {
  return a.kind() === net.kind() && (a as ipaddr.IPv4).match(net, bits);
}

function masked([net, bits]: [Addr, number]): Addr {
  const bytes = net.toByteArray();
  bytes.forEach((b, i) => {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] = b & ((0xff << (8 - keep)) & 0xff);
  });
  return ipaddr.fromByteArray(bytes);
}

const range = (a: Addr) => a.range();

export const KUBERNETES_CEL_FUNCS = [
  celFunc("isIP", [CelScalar.STRING], CelScalar.BOOL, (s) => parseKubeIp(s) !== undefined),
  celFunc("ip", [CelScalar.STRING], IP, (s) => makeIp(must(parseKubeIp(s), "IP address", s))),
  celFunc("ip.isCanonical", [CelScalar.STRING], CelScalar.BOOL, (s) => {
    const a = must(parseKubeIp(s), "IP address", s);
    return a.toString() === s;
  }),
  celMethod("family", IP, [], CelScalar.INT, function () {
    return ipOf(this).kind() === "ipv4" ? 4n : 6n;
  }),
  celMethod("isUnspecified", IP, [], CelScalar.BOOL, function () {
    return range(ipOf(this)) === "unspecified";
  }),
  celMethod("isLoopback", IP, [], CelScalar.BOOL, function () {
    return range(ipOf(this)) === "loopback";
  }),
  celMethod("isLinkLocalUnicast", IP, [], CelScalar.BOOL, function () {
    return range(ipOf(this)) === "linkLocal";
  }),
  celFunc("string", [IP], CelScalar.STRING, (m) => text(m, IpDesc)),
  celFunc("isCIDR", [CelScalar.STRING], CelScalar.BOOL, (s) => parseKubeCidr(s) !== undefined),
  celFunc("cidr", [CelScalar.STRING], CIDR, (s) => {
    const [a, bits] = must(parseKubeCidr(s), "CIDR", s);
    return makeCidr(a, bits);
  }),
  celMethod("prefixLength", CIDR, [], CelScalar.INT, function () {
    return BigInt(cidrOf(this)[1]);
  }),
  celMethod("ip", CIDR, [], IP, function () {
    return makeIp(cidrOf(this)[0]);
  }),
  celMethod("masked", CIDR, [], CIDR, function () {
    const c = cidrOf(this);
    return makeCidr(masked(c), c[1]);
  }),
  celMethod("containsIP", CIDR, [IP], CelScalar.BOOL, function (m) {
    return contains(cidrOf(this), ipOf(m));
  }),
  celMethod("containsIP", CIDR, [CelScalar.STRING], CelScalar.BOOL, function (s) {
    return contains(cidrOf(this), must(parseKubeIp(s), "IP address", s));
  }),
  celMethod("containsCIDR", CIDR, [CIDR], CelScalar.BOOL, function (m) {
    const inner = cidrOf(m);
    const outer = cidrOf(this);
    return inner[1] >= outer[1] && contains(outer, inner[0]);
  }),
  celMethod("containsCIDR", CIDR, [CelScalar.STRING], CelScalar.BOOL, function (s) {
    const inner = must(parseKubeCidr(s), "CIDR", s);
    const outer = cidrOf(this);
    return inner[1] >= outer[1] && contains(outer, inner[0]);
  }),
  celFunc("string", [CIDR], CelScalar.STRING, (m) => text(m, CidrDesc)),
];

/** The names a rule may call with this library (for a start-time check of CRD rules). */
export const KUBERNETES_CEL_FUNCTIONS = [...new Set(KUBERNETES_CEL_FUNCS.map((f) => f.name))];

/** Options for @bufbuild/cel's run(): the functions and the registry holding net.IP / net.CIDR. */
export const KUBERNETES_CEL_ENV = { funcs: KUBERNETES_CEL_FUNCS, registry };
