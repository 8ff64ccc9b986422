/**
 * The route table: each route is a method (or several) and a path pattern mapped to a
 * handler, in the shape of Deno std's `http/route.ts`. Patterns are `/`-separated
 * segments: a literal, `:name` (one segment, decoded), `prefix:name` (a segment that
 * starts with `prefix`), `:name?` (an optional last segment), `*name` (the rest, one or
 * more segments) and `:pkg` (a package name: one segment, or two for `@scope/name`
 * unless the slash is encoded).
 *
 * @module
 */

/** What a route handler gets: the request, its URL parts and the matched parameters. */
export interface RequestContext {
  /** The request. */
  readonly req: Request;
  /** The request method. */
  readonly method: string;
  /** The path, still percent-encoded. */
  readonly path: string;
  /** The query string without `?`. */
  readonly query: string;
  /** `scheme://host[:port]` of the request. */
  readonly origin: string;
  /** The peer address, for rate limits. */
  readonly ip: string;
  /** The pattern's parameters, decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** The parsed URL (made on first use: the hot paths do without). */
  readonly url: URL;
}

/** A route handler. */
export type RouteHandler = (ctx: RequestContext) => Promise<Response>;

/** One row of the route table. */
export interface Route {
  /** The methods it answers; `*` answers any. */
  method: string | readonly string[];
  /** The path pattern. */
  path: string;
  /** What answers. */
  handler: RouteHandler;
}

type Segment =
  | { kind: "literal"; text: string }
  | { kind: "param"; name: string; prefix: string; optional: boolean }
  | { kind: "pkg"; name: string }
  | { kind: "rest"; name: string };

interface Compiled {
  methods: ReadonlySet<string> | null;
  segments: Segment[];
  handler: RouteHandler;
}

function compile(route: Route): Compiled {
  const segments = route.path.split("/").slice(1).map((s): Segment => {
    if (s === ":pkg") return { kind: "pkg", name: "pkg" };
    if (s.startsWith("*")) return { kind: "rest", name: s.slice(1) };
    const colon = s.lastIndexOf(":");
    if (colon < 0) return { kind: "literal", text: s };
    const optional = s.endsWith("?");
    return {
      kind: "param",
      prefix: s.slice(0, colon),
      name: s.slice(colon + 1, optional ? -1 : undefined),
      optional,
    };
  });
  const methods = typeof route.method === "string"
    ? [route.method]
    : route.method;
  return {
    methods: methods.includes("*") ? null : new Set(methods),
    segments,
    handler: route.handler,
  };
}

function match(
  pattern: Segment[],
  segs: string[],
): Record<string, string> | null {
  if (pattern.length > segs.length + 1) return null;
  const params: Record<string, string> = Object.create(null);
  let i = 0;
  for (const p of pattern) {
    const s = segs[i];
    switch (p.kind) {
      case "literal":
        if (s !== p.text) return null;
        i++;
        break;
      case "param":
        if (s === undefined || s === "") {
          if (p.optional && s === undefined) break;
          return null;
        }
        if (p.prefix) {
          const decoded = decodeURIComponent(s);
          if (!decoded.startsWith(p.prefix)) return null;
          params[p.name] = decoded.slice(p.prefix.length);
        } else {
          params[p.name] = decodeURIComponent(s);
        }
        i++;
        break;
      case "pkg": {
        if (!s || s === "-") return null;
        const first = decodeURIComponent(s);
        if (first.startsWith("@") && !first.includes("/")) {
          if (segs[i + 1] === undefined) return null;
          params[p.name] = `${first}/${decodeURIComponent(segs[i + 1])}`;
          i += 2;
        } else {
          params[p.name] = first;
          i++;
        }
        break;
      }
      case "rest":
        if (i >= segs.length) return null;
        params[p.name] = decodeURIComponent(segs.slice(i).join("/"));
        i = segs.length;
        break;
    }
  }
  return i === segs.length ? params : null;
}

/** What {@linkcode Router.find} found. */
export type RouteMatch =
  | { handler: RouteHandler; params: Record<string, string> }
  | { notAllowed: true }
  | null;

/** A route table, matched in order. */
export class Router {
  // Routes by their first segment when it is a literal (`-`, `""` for `/`); the rest
  // (`/:pkg...`) in `#open`. A path tries its first segment's routes, then the open ones,
  // so a packument GET does not walk the `/-/` routes. Order within each list is kept.
  #byFirst = new Map<string, Compiled[]>();
  #open: Compiled[] = [];

  /** @param routes The table. */
  constructor(routes: Route[]) {
    for (const r of routes.map(compile)) {
      const first = r.segments[0];
      if (first?.kind === "literal") {
        const list = this.#byFirst.get(first.text) ?? [];
        list.push(r);
        this.#byFirst.set(first.text, list);
      } else {
        this.#open.push(r);
      }
    }
  }

  /**
   * The first route whose pattern and method match; `{ notAllowed }` when a pattern
   * matches but no method does; null when no pattern matches.
   *
   * @throws {URIError} On malformed percent-encoding.
   */
  find(method: string, path: string): RouteMatch {
    const segs = path.split("/").slice(1);
    let notAllowed = false;
    for (const list of [this.#byFirst.get(segs[0]), this.#open]) {
      for (const r of list ?? []) {
        const params = match(r.segments, segs);
        if (!params) continue;
        if (r.methods && !r.methods.has(method)) {
          notAllowed = true;
          continue;
        }
        return { handler: r.handler, params };
      }
    }
    return notAllowed ? { notAllowed } : null;
  }
}
