// Rise / fall counting, shared by tracked scripts and real-server checks (keepalived semantics):
// health changes only after `rise` successes or `fall` failures in a row.
/** Pure: `record` returns the new health when it changes. */
export class RiseFall {
  healthy: boolean;
  private streak = 0;
  private readonly rise: number;
  private readonly fall: number;
  constructor(rise: number, fall: number, healthy = true) {
    this.rise = rise;
    this.fall = fall;
    this.healthy = healthy;
  }
  record(ok: boolean): boolean | undefined {
    if (ok === this.healthy) {
      this.streak = 0;
      return undefined;
    }
    this.streak++;
    if (this.streak < (ok ? this.rise : this.fall)) return undefined;
    this.streak = 0;
    this.healthy = ok;
    return ok;
  }
}
