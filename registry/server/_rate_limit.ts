/**
 * Login rate limits, per process: failed logins per client and user name in a window,
 * and login attempts per client in a shorter window (each costs a scrypt).
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

  /** Milliseconds to wait before `ip` may try `name` again; 0 when it may now. */
  check(ip: string, name: string): number {
    const now = Date.now();
    const f = this.#prune(
      this.#failures,
      `${ip}\n${name}`,
      now,
      this.#failureWindow,
    );
    if (f.length >= this.#maxFailures) return f[0] + this.#failureWindow - now;
    const a = this.#prune(this.#attempts, ip, now, this.#attemptWindow);
    if (a.length >= this.#maxAttempts) return a[0] + this.#attemptWindow - now;
    return 0;
  }

  /** Records an attempt by `ip`. */
  attempt(ip: string): void {
    this.#push(this.#attempts, ip);
  }

  /** Records a failed login by `ip` as `name`. */
  fail(ip: string, name: string): void {
    this.#push(this.#failures, `${ip}\n${name}`);
    this.attempt(ip);
  }

  #push(map: Map<string, number[]>, key: string) {
    if (map.size > 100_000) map.clear();
    const list = map.get(key) ?? [];
    list.push(Date.now());
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
