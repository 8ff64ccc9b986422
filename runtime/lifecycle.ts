/**
 * Detaching everything on every way out: `close()`/dispose (by the owner), normal exit
 * (`unload`), SIGINT and SIGTERM (then exit 130/143), and an uncaught error or unhandled
 * rejection. Live resources are held weakly, so a FinalizationRegistry in their owner can
 * still free what a script dropped.
 *
 * @module
 */

/** Something the exit paths must close. */
export interface Closable {
  /** Detaches and frees; idempotent; may throw (exit paths ignore errors). */
  close(): void;
}

const live = new Set<WeakRef<Closable>>();
const hooks = new Set<() => void>();
let installed = false;

function closeAll(): void {
  const refs = [...live].reverse();
  live.clear();
  for (const ref of refs) {
    try {
      ref.deref()?.close();
    } catch {
      // Exiting: what cannot be closed is freed by the kernel with the process.
    }
  }
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      // As above.
    }
  }
  uninstall();
}

let waiters: ((signal: Deno.Signal) => void)[] = [];

/** A signal ends the script, unless it awaits `interrupted()`: then that promise resolves. */
function onSignal(signal: Deno.Signal, code: number): void {
  if (waiters.length) {
    const wake = waiters;
    waiters = [];
    for (const w of wake) w(signal);
    return;
  }
  closeAll();
  Deno.exit(code);
}

const onSigint = () => onSignal("SIGINT", 130);
const onSigterm = () => onSignal("SIGTERM", 143);

function install(): void {
  if (installed) return;
  installed = true;
  Deno.addSignalListener("SIGINT", onSigint);
  Deno.addSignalListener("SIGTERM", onSigterm);
  globalThis.addEventListener("unload", closeAll);
  globalThis.addEventListener("error", closeAll);
  globalThis.addEventListener("unhandledrejection", closeAll);
}

function idle(): boolean {
  return live.size === 0 && hooks.size === 0 && waiters.length === 0;
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  Deno.removeSignalListener("SIGINT", onSigint);
  Deno.removeSignalListener("SIGTERM", onSigterm);
  globalThis.removeEventListener("unload", closeAll);
  globalThis.removeEventListener("error", closeAll);
  globalThis.removeEventListener("unhandledrejection", closeAll);
}

/**
 * Closes `resource` on exit, SIGINT, SIGTERM or an uncaught error, unless the returned
 * function is called first (its owner closed it). Signal handlers exist only while something
 * is tracked, so a script with nothing loaded exits as usual.
 *
 * @param resource What to close.
 * @returns A function that stops tracking it.
 */
export function track(resource: Closable): () => void {
  const ref = new WeakRef(resource);
  live.add(ref);
  install();
  return () => {
    live.delete(ref);
    if (idle()) uninstall();
  };
}

/**
 * Runs `hook` on every exit path (after closing tracked resources), e.g. to close links
 * made outside a BPF object.
 *
 * @param hook Called at most once per exit.
 * @returns A function that removes the hook.
 */
export function onExit(hook: () => void): () => void {
  hooks.add(hook);
  install();
  return () => {
    hooks.delete(hook);
    if (idle()) uninstall();
  };
}

/**
 * Resolves on the next Ctrl-C (SIGINT) or SIGTERM, which then do not end the script: BCC's
 * "trace until Ctrl-C, then print" idiom. A second signal, with nobody waiting, ends it as
 * usual (detaching everything).
 *
 * @param options `signal` gives the wait up (the promise rejects with its reason).
 * @returns The signal received.
 *
 * @example Print a histogram on Ctrl-C
 * ```ts
 * import { BPF, interrupted, printLog2Hist } from "bpf";
 * using b = await BPF.load({ file: "./biolatency.bpf.c" });
 * console.log("Tracing... Hit Ctrl-C to end.");
 * await interrupted();
 * printLog2Hist(b.map("dist"), { valType: "usecs" });
 * ```
 */
export function interrupted(
  options: { signal?: AbortSignal } = {},
): Promise<Deno.Signal> {
  install();
  return new Promise((resolve, reject) => {
    const waiter = (signal: Deno.Signal) => {
      options.signal?.removeEventListener("abort", abort);
      resolve(signal);
      if (idle()) uninstall();
    };
    // A waiter given up (its signal aborted) stops holding the signal listeners.
    const abort = () => {
      waiters = waiters.filter((w) => w !== waiter);
      if (idle()) uninstall();
      reject(options.signal!.reason);
    };
    if (options.signal?.aborted) return abort();
    options.signal?.addEventListener("abort", abort, { once: true });
    waiters.push(waiter);
  });
}
