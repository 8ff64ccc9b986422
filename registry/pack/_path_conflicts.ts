/**
 * Path conflicts between tarball entries: a file `x` with a file `x/y` under it, or with
 * a directory `x/`. A tarball holding both cannot be extracted, so the registry refuses
 * it at publish and the client before it writes anything. Names compare as the
 * duplicate check does (case-insensitively, NFC), since case-insensitive file systems
 * clash on them as well.
 *
 * @module
 */

/** Tracks the files and directories (named or implied by a path) seen so far. */
export class PathConflicts {
  #files = new Map<string, string>();
  #dirs = new Map<string, string>();

  /**
   * Records one entry.
   *
   * @param path The normalized entry path (`package/...`).
   * @param type Its type.
   * @returns The conflict with an entry seen before, as a sentence; null when none.
   */
  add(path: string, type: "file" | "directory"): string | null {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const key = keyOf(dir);
      const file = this.#files.get(key);
      if (file !== undefined) {
        return `Entry ${JSON.stringify(path)} is under ${
          JSON.stringify(file)
        }, which is a file`;
      }
      if (!this.#dirs.has(key)) this.#dirs.set(key, dir);
    }
    const key = keyOf(path);
    const [own, other, what, otherWhat] = type === "file"
      ? [this.#files, this.#dirs, "File", "directory"]
      : [this.#dirs, this.#files, "Directory", "file"];
    const clash = other.get(key);
    if (clash !== undefined) {
      return `${what} ${JSON.stringify(path)} is also the ${otherWhat} ${
        JSON.stringify(clash)
      }`;
    }
    own.set(key, path);
    return null;
  }
}

function keyOf(path: string): string {
  return path.toLowerCase().normalize("NFC");
}
