/**
 * Bounds what publishes in progress may cost: at most `concurrency` are read and checked
 * at once (each may hold a request body and an unpacked tarball up to the caps), a
 * bounded queue waits behind them, and one user has at most `perUser` in progress or
 * waiting. Beyond that a publish is answered 429 at once, before its body is read.
 *
 * @module
 */
import { RegistryError } from "../common/errors.ts";

/** Limits of a {@linkcode PublishGate}. */
export interface PublishLimits {
  /** Publishes read and checked at once (default 4). */
  concurrency: number;
  /** Publishes waiting for a turn (default 64). */
  queue: number;
  /** Publishes one user may have running or waiting (default 8). */
  perUser: number;
}

/** The default publish limits. */
export const DEFAULT_PUBLISH_LIMITS: Readonly<PublishLimits> = Object.freeze({
  concurrency: 4,
  queue: 64,
  perUser: 8,
});

/** A counting gate for publishes, per process. */
export class PublishGate {
  #limits: PublishLimits;
  #running = 0;
  #waiting: (() => void)[] = [];
  #perUser = new Map<string, number>();

  constructor(limits: Partial<PublishLimits> = {}) {
    this.#limits = { ...DEFAULT_PUBLISH_LIMITS, ...limits };
  }

  /**
   * Waits for a turn for `user`.
   *
   * @returns The function that ends the turn (idempotent).
   * @throws {RegistryError} A 429 when `user` or the queue is over its limit.
   */
  async enter(user: string): Promise<() => void> {
    const mine = this.#perUser.get(user) ?? 0;
    if (mine >= this.#limits.perUser) {
      throw new RegistryError(
        429,
        `You have ${mine} publishes in progress (the limit): wait for them to finish, then publish again`,
        { code: "too-many-publishes" },
      );
    }
    const free = this.#running < this.#limits.concurrency;
    if (!free && this.#waiting.length >= this.#limits.queue) {
      throw new RegistryError(
        429,
        "The registry is busy with other publishes: try again in a few seconds",
        { code: "publish-queue-full" },
      );
    }
    this.#perUser.set(user, mine + 1);
    if (free) this.#running++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.#perUser.get(user) ?? 1) - 1;
      if (left) this.#perUser.set(user, left);
      else this.#perUser.delete(user);
      // The turn passes straight to the next in line, so `running` stays the same.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    };
  }
}
