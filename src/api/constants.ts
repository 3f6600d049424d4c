// The API's names, limits and patterns, which its schemas (schema/) and its checks both use.
export const GROUP = "vipkeeper.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/**
 * Longest address text (an IPv6 address with an embedded IPv4 and a prefix is 49); a bound lets
 * Kubernetes estimate the CEL rules' cost, which it refuses to do for unbounded strings.
 */
export const ADDRESS_MAX = 64;

/** Go's duration syntax as Kubernetes APIs write it ("1s", "100ms", "1m30s"). */
export const DURATION_PATTERN = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$|^0$";
/** A Linux interface name: at most 15 characters, no slash, colon or space (and not . or ..). */
export const INTERFACE_NAME_PATTERN = "^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,14}$";
