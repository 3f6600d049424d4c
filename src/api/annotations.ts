// Annotations vipkeeper reads, apart from the schemas (virtual-router.ts) so that the node's plan,
// which the engine process loads, does not load the schema library with them.

/**
 * Set by `vipkeeper import` to the vrrp_instance's own name (VI_1): notify scripts and mail name the
 * instance as keepalived did, so admins' scripts and mail filters keep working.
 */
export const KEEPALIVED_INSTANCE_ANNOTATION = "vipkeeper.io/keepalived-instance";
