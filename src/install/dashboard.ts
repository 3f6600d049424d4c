// The Grafana dashboard shipped with the chart: the state of every router over time, transitions,
// adverts, drops, priorities and observed failover times. Built here so that a test can check
// every metric it queries is one the agents export.
type Json = Record<string, unknown>;

/** The metrics the dashboard reads (each must exist in the agents' registry: src/observe/metrics.ts
 * and src/observe/lb-metrics.ts, which registers into it). */
export const DASHBOARD_METRICS = [
  "vipkeeper_vrrp_instance_state",
  "vipkeeper_vrrp_transitions_total",
  "vipkeeper_vrrp_adverts_sent_total",
  "vipkeeper_vrrp_adverts_received_total",
  "vipkeeper_vrrp_drops_total",
  "vipkeeper_vrrp_effective_priority",
  "vipkeeper_vrrp_addresses_bound",
  "vipkeeper_vrrp_failover_seconds_bucket",
  "vipkeeper_vrrp_notifications_total",
  "vipkeeper_lb_real_server_up",
  "vipkeeper_lb_real_server_transitions_total",
  "vipkeeper_health_check_duration_seconds_bucket",
  "vipkeeper_lb_dataplane_update_seconds_bucket",
];

/** An instance's state as one number (3 master, 2 backup, 1 fault, 0 stopped), for a state timeline. */
const STATE_EXPR = (
  [
    ["master", 3],
    ["backup", 2],
    ["fault", 1],
  ] as const
)
  .map(
    ([state, n]) => `${n} * sum by (router, family, node) (vipkeeper_vrrp_instance_state{state="${state}"})`,
  )
  .join(" + ");

function panel(
  id: number,
  title: string,
  type: string,
  exprs: [string, string][],
  grid: [number, number, number, number],
  extra: Json = {},
): Json {
  return {
    id,
    title,
    type,
    datasource: { type: "prometheus", uid: "${datasource}" },
    gridPos: { x: grid[0], y: grid[1], w: grid[2], h: grid[3] },
    targets: exprs.map(([expr, legendFormat], i) => ({
      refId: String.fromCharCode(65 + i),
      expr,
      legendFormat,
    })),
    ...extra,
  };
}

export function dashboard(): Json {
  return {
    title: "vipkeeper",
    uid: "vipkeeper",
    tags: ["vipkeeper", "vrrp"],
    timezone: "browser",
    schemaVersion: 39,
    refresh: "10s",
    time: { from: "now-6h", to: "now" },
    templating: {
      list: [{ name: "datasource", type: "datasource", query: "prometheus", label: "Prometheus" }],
    },
    panels: [
      panel(
        1,
        "State per router, family and node",
        "state-timeline",
        [[STATE_EXPR, "{{router}} {{family}} @ {{node}}"]],
        [0, 0, 24, 8],
        {
          fieldConfig: {
            defaults: {
              mappings: [
                {
                  type: "value",
                  options: {
                    "0": { text: "stopped", color: "text" },
                    "1": { text: "FAULT", color: "red" },
                    "2": { text: "BACKUP", color: "blue" },
                    "3": { text: "MASTER", color: "green" },
                  },
                },
              ],
            },
          },
        },
      ),
      panel(
        2,
        "Transitions",
        "timeseries",
        [
          [
            "sum by (router, family, to) (increase(vipkeeper_vrrp_transitions_total[$__rate_interval]))",
            "{{router}} {{family}} → {{to}}",
          ],
        ],
        [0, 8, 12, 8],
      ),
      panel(
        3,
        "Failover time (old master's last advert → new master)",
        "timeseries",
        [
          [
            "histogram_quantile(0.5, sum by (le) (rate(vipkeeper_vrrp_failover_seconds_bucket[$__range])))",
            "p50",
          ],
          [
            "histogram_quantile(0.99, sum by (le) (rate(vipkeeper_vrrp_failover_seconds_bucket[$__range])))",
            "p99",
          ],
        ],
        [12, 8, 12, 8],
        { fieldConfig: { defaults: { unit: "s" } } },
      ),
      panel(
        4,
        "Adverts",
        "timeseries",
        [
          [
            "sum by (router, family, node) (rate(vipkeeper_vrrp_adverts_sent_total[$__rate_interval]))",
            "sent {{router}} {{family}} @ {{node}}",
          ],
          [
            "sum by (router, family, node) (rate(vipkeeper_vrrp_adverts_received_total[$__rate_interval]))",
            "received {{router}} {{family}} @ {{node}}",
          ],
        ],
        [0, 16, 12, 8],
        { fieldConfig: { defaults: { unit: "pps" } } },
      ),
      panel(
        5,
        "Dropped VRRP packets by reason",
        "timeseries",
        [["sum by (reason) (rate(vipkeeper_vrrp_drops_total[$__rate_interval]))", "{{reason}}"]],
        [12, 16, 12, 8],
      ),
      panel(
        6,
        "Effective priority",
        "timeseries",
        [["vipkeeper_vrrp_effective_priority", "{{router}} {{family}} @ {{node}}"]],
        [0, 24, 12, 8],
      ),
      panel(
        7,
        "Virtual addresses held",
        "timeseries",
        [["sum by (node) (vipkeeper_vrrp_addresses_bound)", "{{node}}"]],
        [12, 24, 6, 8],
      ),
      panel(
        8,
        "Notifications",
        "timeseries",
        [
          [
            "sum by (channel, result) (increase(vipkeeper_vrrp_notifications_total[$__rate_interval]))",
            "{{channel}} {{result}}",
          ],
        ],
        [18, 24, 6, 8],
      ),
      panel(
        9,
        "Real servers up (load balancing)",
        "timeseries",
        [
          [
            "min by (virtual_server, real_server) (vipkeeper_lb_real_server_up)",
            "{{virtual_server}} → {{real_server}}",
          ],
        ],
        [0, 32, 12, 8],
        { fieldConfig: { defaults: { min: 0, max: 1 } } },
      ),
      panel(
        10,
        "Real server health changes",
        "timeseries",
        [
          [
            "sum by (virtual_server, to) (increase(vipkeeper_lb_real_server_transitions_total[$__rate_interval]))",
            "{{virtual_server}} → {{to}}",
          ],
        ],
        [12, 32, 12, 8],
      ),
      panel(
        11,
        "Health check duration p99 by kind",
        "timeseries",
        [
          [
            "histogram_quantile(0.99, sum by (le, kind) (rate(vipkeeper_health_check_duration_seconds_bucket[$__rate_interval])))",
            "{{kind}}",
          ],
        ],
        [0, 40, 12, 8],
        { fieldConfig: { defaults: { unit: "s" } } },
      ),
      panel(
        12,
        "Dataplane update p99 (health change → dataplane)",
        "timeseries",
        [
          [
            "histogram_quantile(0.99, sum by (le, backend) (rate(vipkeeper_lb_dataplane_update_seconds_bucket[$__rate_interval])))",
            "{{backend}}",
          ],
        ],
        [12, 40, 12, 8],
        { fieldConfig: { defaults: { unit: "s" } } },
      ),
    ],
  };
}
