/**
 * What every resource module shares: the store and the policy from the options, the
 * registry's signing key, the login limiter and the publish gate, authentication,
 * and the one ownership check ({@linkcode Registry.requireOwner}) every write to a
 * package calls.
 *
 * @module
 */
import type { TarballLimits } from "../pack/mod.ts";
import { randomHex, sha256Hex, SigningKey } from "./_crypto.ts";
import { buildHead, highestVersion } from "./_docs.ts";
import { ownRecord } from "./_publish.ts";
import { RegistryError } from "../common/errors.ts";
import { PublishGate, type PublishLimits } from "./_publish_gate.ts";
import { RateLimiter } from "./_rate_limit.ts";
import type { RequestContext, Route } from "./_router.ts";
import type {
  PackageRow,
  Store,
  StoreTx,
  UserRow,
  VersionRow,
} from "./store.ts";

/** Options of `createRegistryHandler`: the store and the registry's policy. */
export interface RegistryHandlerOptions {
  /** Where packages, users and tokens live. */
  store: Store;
  /** The URL clients reach the registry at; by default each request's own origin. */
  publicUrl?: string;
  /** Tarball caps (compressed, unpacked, file count). */
  limits?: Partial<TarballLimits>;
  /** Largest request body, in bytes; by default the compressed cap × 4/3 plus 1 MiB. */
  maxBodySize?: number;
  /** Users who are admins (they may unpublish anything and manage orgs). */
  admins?: string[];
  /** Whether anyone may create an account (default true). */
  signup?: boolean;
  /** How long after publish an owner may unpublish a version (default 72 hours). */
  unpublishWindowMs?: number;
  /** Failed logins allowed per client and user name in 15 minutes (default 5). */
  loginFailures?: number;
  /** Login attempts (any outcome, including sign-ups) allowed per client per minute (default 120). */
  loginAttemptsPerMinute?: number;
  /** Publishes checked at once, waiting, and per user; over them a publish gets 429. */
  publishLimits?: Partial<PublishLimits>;
  /** The clock, for tests of the unpublish window. */
  now?: () => Date;
}

/** An authenticated request's user and token. */
export interface Auth {
  /** The user. */
  user: UserRow;
  /** Whether the token is read-only. */
  readonly: boolean;
  /** The token's SHA-256. */
  tokenHash: string;
}

/** What {@linkcode Registry.requireOwner} checks besides ownership. */
export interface OwnerCheck {
  /** The revision the writer read; another one is a 409. */
  rev?: string;
  /** Added to a 403, such as how to become an owner. */
  hint?: string;
}

const HOUR = 3600_000;

/** The registry's shared state and checks. */
export class Registry {
  /** The store. */
  readonly store: Store;
  /** Tarball caps. */
  readonly limits: Partial<TarballLimits>;
  /** The largest package document body. */
  readonly maxBody: number;
  /** Configured admins. */
  readonly admins: ReadonlySet<string>;
  /** Whether anyone may sign up. */
  readonly signup: boolean;
  /** The clock. */
  readonly now: () => Date;
  /** The login limiter (per process). */
  readonly limiter: RateLimiter;
  /** The publish gate (per process). */
  readonly publishGate: PublishGate;
  /** The registry's key, which signs every published version's integrity. */
  readonly signingKey: SigningKey;
  #publicUrl?: string;
  #unpublishWindow: number;

  private constructor(options: RegistryHandlerOptions, key: SigningKey) {
    this.store = options.store;
    this.limits = options.limits ?? {};
    const maxCompressed = this.limits.maxCompressedSize ?? 16 * 1024 * 1024;
    this.maxBody = options.maxBodySize ??
      Math.ceil(maxCompressed * 4 / 3) + 1024 * 1024;
    this.admins = new Set(options.admins ?? []);
    this.signup = options.signup ?? true;
    this.#unpublishWindow = options.unpublishWindowMs ?? 72 * HOUR;
    this.now = options.now ?? (() => new Date());
    this.limiter = new RateLimiter(
      options.loginFailures ?? 5,
      15 * 60_000,
      options.loginAttemptsPerMinute ?? 120,
      60_000,
    );
    this.publishGate = new PublishGate(options.publishLimits);
    this.#publicUrl = options.publicUrl;
    this.signingKey = key;
  }

  /**
   * Loads (or creates, once for all servers sharing the store) the signing key and
   * marks the configured admins.
   */
  static async open(options: RegistryHandlerOptions): Promise<Registry> {
    const admins = options.admins ?? [];
    const pem = await options.store.transaction(async (tx) => {
      for (const a of admins) {
        if (await tx.getUser(a)) await tx.setAdmin(a, true);
      }
      return await tx.setMetaIfAbsent("signing_key", SigningKey.generatePem());
    });
    return new Registry(options, new SigningKey(pem));
  }

  /** The registry's public URL, without a trailing slash. */
  baseOf(origin: string): string {
    if (origin !== this.#lastOrigin) {
      this.#lastOrigin = origin;
      this.#lastBase = (this.#publicUrl ?? origin).replace(/\/+$/, "");
    }
    return this.#lastBase;
  }
  #lastOrigin = "";
  #lastBase = "";

  /** The user a bearer token names, or null without one. */
  async authenticate(req: Request): Promise<Auth | null> {
    const h = req.headers.get("authorization");
    if (!h) return null;
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) return null;
    const hash = sha256Hex(m[1]);
    const token = await this.store.getTokenByHash(hash);
    if (!token) {
      throw new RegistryError(
        401,
        "Invalid or revoked token: log in again (npm login)",
      );
    }
    const user = await this.store.getUser(token.username);
    if (!user) {
      throw new RegistryError(401, "The token's user no longer exists");
    }
    return { user, readonly: token.readonly, tokenHash: hash };
  }

  /** The request's user; `write` also refuses a read-only token. */
  async requireUser(req: Request, write: boolean): Promise<Auth> {
    const auth = await this.authenticate(req);
    if (!auth) {
      throw new RegistryError(
        401,
        "Log in first: this needs a token (npm login)",
      );
    }
    if (write && auth.readonly) {
      throw new RegistryError(
        403,
        "This token is read-only: use a publish token for this",
      );
    }
    return auth;
  }

  /**
   * The one ownership check of every write to a package, inside its transaction: locks
   * the package, reads it, checks an expected revision, and refuses a user who neither
   * owns it nor is an admin.
   *
   * @param opts `rev`: the revision the writer read; `hint`: added to the refusal (how
   * to become an owner); `allowMissing`: answer null for a package that does not exist
   * (a first publish) instead of a 404.
   * @returns The package row.
   * @throws {RegistryError} 404 (no package), 409 (another revision), 403 (not an owner).
   */
  async requireOwner(
    tx: StoreTx,
    auth: Auth,
    name: string,
    opts?: OwnerCheck & { allowMissing?: false },
  ): Promise<PackageRow>;
  async requireOwner(
    tx: StoreTx,
    auth: Auth,
    name: string,
    opts: OwnerCheck & { allowMissing: true },
  ): Promise<PackageRow | null>;
  async requireOwner(
    tx: StoreTx,
    auth: Auth,
    name: string,
    opts: OwnerCheck & { allowMissing?: boolean } = {},
  ): Promise<PackageRow | null> {
    await tx.lockPackage(name);
    const pkg = await tx.getPackage(name);
    if (!pkg) {
      if (opts.allowMissing) return null;
      throw new RegistryError(404, `Package ${name} not found`);
    }
    if (opts.rev && opts.rev !== pkg.rev) {
      throw new RegistryError(
        409,
        `The package changed since it was read (rev ${opts.rev}, now ${pkg.rev}): try again`,
      );
    }
    if (!auth.user.admin && !pkg.owners.includes(auth.user.name)) {
      throw new RegistryError(
        403,
        `You do not own ${name}${opts.hint ?? ""}`,
      );
    }
    return pkg;
  }

  /** Whether `user` may create `name` (its scope is theirs or their org's). */
  async canCreateIn(
    tx: StoreTx,
    user: UserRow,
    name: string,
  ): Promise<boolean> {
    const scope = scopeOf(name);
    if (!scope || user.admin) return true;
    if (scope === user.name) return true;
    return (await tx.getOrgMembers(scope)).some((m) =>
      m.username === user.name
    );
  }

  /**
   * Stores a package's head under a new revision (its packuments are assembled from it
   * and the version rows when read).
   *
   * @param known Version rows at hand; the row `latest` names is read if it is not among them.
   * @returns The new revision.
   */
  async save(
    tx: StoreTx,
    name: string,
    created: string,
    prevRev: string | undefined,
    distTags: Record<string, string>,
    owners: string[],
    known: VersionRow[],
  ): Promise<string> {
    const rev = nextRev(prevRev);
    const latest = distTags.latest;
    const latestRow = known.find((v) => v.version === latest) ??
      (latest ? await tx.getVersion(name, latest) : null) ?? undefined;
    await tx.putPackage(buildHead({
      name,
      rev,
      created,
      modified: this.now().toISOString(),
      distTags,
      owners,
    }, latestRow));
    return rev;
  }

  /**
   * Saves a package after versions were removed: tags of removed versions go, `latest`
   * moves to the highest version left, and with none left the package goes.
   */
  async saveAfterRemoval(
    tx: StoreTx,
    pkg: PackageRow,
    owners: string[],
    versions: VersionRow[],
  ): Promise<string> {
    if (!versions.length) {
      await tx.deletePackage(pkg.name);
      return "";
    }
    const live = new Set(versions.map((v) => v.version));
    const tags = ownRecord(Object.fromEntries(
      Object.entries(pkg.distTags).filter(([, v]) => live.has(v)),
    ));
    if (!tags.latest) tags.latest = highestVersion([...live])!;
    return await this.save(
      tx,
      pkg.name,
      pkg.created,
      pkg.rev,
      tags,
      owners,
      versions,
    );
  }

  /** Refuses to unpublish `v` after the window, unless `auth` is an admin. */
  mayUnpublish(auth: Auth, v: VersionRow): void {
    if (auth.user.admin) return;
    if (
      this.now().getTime() - Date.parse(v.published) > this.#unpublishWindow
    ) {
      throw new RegistryError(
        403,
        `${v.name}@${v.version} was published more than 72 hours ago: only an admin can unpublish it (deprecate it instead)`,
      );
    }
  }
}

/** The scope of `@scope/name`, or null. */
export function scopeOf(name: string): string | null {
  return name.startsWith("@") ? name.slice(1, name.indexOf("/")) : null;
}

function nextRev(prev: string | undefined): string {
  const n = prev ? parseInt(prev, 10) + 1 : 1;
  return `${n}-${randomHex(16)}`;
}

/** A resource module: the routes it answers, given the shared registry. */
export type RouteModule = (registry: Registry) => Route[];

export type { RequestContext, Route };
