/**
 * Login rate limits, per process: failed logins per client and user name in a window,
 * and login attempts per client in a shorter window (each costs a scrypt).
 *
 * An attempt is counted when it starts, as a failure until it succeeds: a password
 * check takes tens of milliseconds, so attempts sent in parallel would otherwise all
 * pass the limit before the first failure is recorded.
 *
 * @module
 */
export class RateLimiter {
  #failures = new Map<string, number[]>();
  #attempts = new Map<string, number[]>();
  #maxFailures: number;
  #failureWindow: number;
  #maxAttempts: number;
  #attemptWindow: number;

  constructor(
    maxFailures: number,
    failureWindowMs: number,
    maxAttempts: number,
    attemptWindowMs: number,
  ) {
    this.#maxFailures = maxFailures;
    this.#failureWindow = failureWindowMs;
    this.#maxAttempts = maxAttempts;
    this.#attemptWindow = attemptWindowMs;
  }

  /**
   * Starts an attempt by `ip`: returns the milliseconds to wait when it is over a limit,
   * else 0 after counting it. With a `name` (a password check) it also counts as a
   * failure of `ip` as `name` until {@linkcode RateLimiter.succeeded} takes it back.
   */
  start(ip: string, name?: string): number {
    const now = Date.now();
    if (name !== undefined) {
      const f = this.#prune(
        this.#failures,
        `${ip}\n${name}`,
        now,
        this.#failureWindow,
      );
      if (f.length >= this.#maxFailures) {
        return f[0] + this.#failureWindow - now;
      }
    }
    const a = this.#prune(this.#attempts, ip, now, this.#attemptWindow);
    if (a.length >= this.#maxAttempts) return a[0] + this.#attemptWindow - now;
    this.#push(this.#attempts, ip, now);
    if (name !== undefined) this.#push(this.#failures, `${ip}\n${name}`, now);
    return 0;
  }

  /** Takes back the failure counted when `ip`'s attempt as `name` started: it succeeded. */
  succeeded(ip: string, name: string): void {
    const list = this.#failures.get(`${ip}\n${name}`);
    list?.pop();
    if (list && !list.length) this.#failures.delete(`${ip}\n${name}`);
  }

  #push(map: Map<string, number[]>, key: string, now: number) {
    if (map.size > 100_000) map.clear();
    const list = map.get(key) ?? [];
    list.push(now);
    map.set(key, list);
  }

  #prune(
    map: Map<string, number[]>,
    key: string,
    now: number,
    window: number,
  ): number[] {
    const list = (map.get(key) ?? []).filter((t) => t > now - window);
    if (list.length) map.set(key, list);
    else map.delete(key);
    return list;
  }
}
