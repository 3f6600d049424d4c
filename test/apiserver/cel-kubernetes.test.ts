// Kubernetes' CEL IP and CIDR libraries (cel-kubernetes.ts), against the examples of
// https://kubernetes.io/docs/reference/using-api/cel/ (IP address and CIDR libraries).
import { isCelError, run } from "@bufbuild/cel";
import { describe, expect, it } from "vitest";
import { KUBERNETES_CEL_ENV, KUBERNETES_CEL_FUNCTIONS } from "../kubeapi/cel-kubernetes.ts";

const cel = (rule: string, self?: unknown) => {
  const out = run(rule, self === undefined ? {} : { self: self as never }, KUBERNETES_CEL_ENV);
  return isCelError(out) ? `error: ${out.message}` : out;
};

describe("Kubernetes CEL IP and CIDR libraries", () => {
  it.each([
    ["isIP('127.0.0.1')", true],
    ["isIP('::1')", true],
    ["isIP('127.0.0.256')", false],
    ["isIP('010.0.0.1')", false], // leading zeros refused
    ["isIP('::ffff:1.2.3.4')", false], // IPv4-mapped IPv6 refused
    ["isIP('fe80::1%eth0')", false], // zones refused
    ["isIP('1.2.3.4/24')", false],
    ["ip('127.0.0.1').family()", 4n],
    ["ip('::1').family()", 6n],
    ["ip('127.0.0.1').isLoopback()", true],
    ["ip('0.0.0.0').isUnspecified()", true],
    ["ip('fe80::1').isLinkLocalUnicast()", true],
    ["ip('198.18.0.1').isLoopback()", false],
    ["ip('1.2.3.4') == ip('1.2.3.4')", true],
    ["ip('2001:db8::1') == ip('2001:db8::2')", false],
    ["string(ip('2001:db8::1'))", "2001:db8::1"],
    ["ip.isCanonical('2001:db8::1')", true],
    ["ip.isCanonical('2001:DB8::1')", false],
    ["isCIDR('192.168.0.0/16')", true],
    ["isCIDR('192.168.0.0/33')", false],
    ["isCIDR('192.168.0.0')", false],
    ["cidr('192.168.0.0/16').prefixLength()", 16n],
    ["cidr('192.168.1.5/16').ip() == ip('192.168.1.5')", true],
    ["cidr('192.168.1.5/16').masked() == cidr('192.168.0.0/16')", true],
    ["cidr('2001:db8::1/32').masked() == cidr('2001:db8::/32')", true],
    ["cidr('192.168.0.0/16').containsIP(ip('192.168.10.1'))", true],
    ["cidr('192.168.0.0/16').containsIP('192.169.0.1')", false],
    ["cidr('192.168.0.0/16').containsIP('2001:db8::1')", false],
    ["cidr('192.168.0.0/16').containsCIDR(cidr('192.168.1.0/24'))", true],
    ["cidr('192.168.1.0/24').containsCIDR('192.168.0.0/16')", false],
    ["string(cidr('198.18.0.0/15'))", "198.18.0.0/15"],
    ["string(1) + string(true)", "1true"], // the standard string() overloads are still there
  ])("%s is %s", (rule, want) => {
    expect(cel(rule)).toBe(want);
  });

  it("works in list macros over a CRD field, as VirtualRouter rules would", () => {
    const rule = "self.all(a, isIP(a) && ip(a).family() == 4 && cidr('198.18.0.0/15').containsIP(a))";
    expect(cel(rule, ["198.18.0.1", "198.19.255.254"])).toBe(true);
    expect(cel(rule, ["198.18.0.1", "203.0.113.1"])).toBe(false);
  });

  it("is an error to build an IP or CIDR from bad text, and the methods belong to their types", () => {
    expect(cel("ip('nope').family()")).toMatch(/^error: .*nope/);
    expect(cel("cidr('1.2.3.4').prefixLength()")).toMatch(/^error: .*1\.2\.3\.4/);
    expect(cel("'1.2.3.4'.family()")).toMatch(/^error: .*no matching overload/);
    expect(cel("ip('1.2.3.4').prefixLength()")).toMatch(/^error: .*no matching overload/);
  });

  it("lists the function names it adds", () => {
    expect([...KUBERNETES_CEL_FUNCTIONS].sort()).toEqual(
      expect.arrayContaining([
        "cidr",
        "containsIP",
        "family",
        "ip",
        "isCIDR",
        "isIP",
        "masked",
        "prefixLength",
      ]),
    );
  });
});
