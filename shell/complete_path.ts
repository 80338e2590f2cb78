/**
 * Tab completion of file paths (for options such as `--in FILE` and `--out FILE`).
 *
 * @module
 */

/**
 * The entries of the folder `partial` points into whose names start with what follows its last
 * `/`, each written as `partial` would continue (folders end in `/`). Hidden entries only when
 * the partial name starts with a dot. Unreadable folders give no completions.
 *
 * @example
 * ```ts
 * import { completePath } from "./complete_path.ts";
 * await completePath("she"); // ["shell/"] in the project root
 * ```
 */
export async function completePath(partial: string): Promise<string[]> {
  const slash = partial.lastIndexOf("/");
  const dir = slash < 0 ? "" : partial.slice(0, slash + 1);
  const stem = slash < 0 ? partial : partial.slice(slash + 1);
  const out: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir === "" ? "." : dir)) {
      if (!entry.name.startsWith(stem)) continue;
      if (entry.name.startsWith(".") && !stem.startsWith(".")) continue;
      let folder = entry.isDirectory;
      if (entry.isSymlink) {
        folder = await Deno.stat(dir + entry.name).then((s) => s.isDirectory, () => false);
      }
      out.push(dir + entry.name + (folder ? "/" : ""));
    }
  } catch {
    return [];
  }
  return out.sort();
}
