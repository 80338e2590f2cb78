/**
 * Drives the real interactive shell through a pseudo-terminal (util-linux `script`): Tab
 * completion, history recall with the Up arrow, Ctrl-C out of `monitor` without leaving the
 * shell, and USB hot-plug with a background job printing while the prompt is back. Needs
 * `--allow-run=script`; skipped (not failed) without it or without `script`.
 */

import { assert, assertEquals } from "@std/assert";
import { stripAnsiCode } from "@std/fmt/colors";
import { fromFileUrl } from "@std/path";
import { waitFor as waitUntil } from "./_wait.ts";

const ROOT = fromFileUrl(new URL("..", import.meta.url)).replace(/\/$/, "");
const SCRIPT = ["/usr/bin/script", "/bin/script"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
const CAN_RUN = Deno.permissions.querySync({ name: "run", command: "script" }).state === "granted";

const ADDRESS_LINE = "0x0000000000001000";

function quote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name:
    "the interactive shell completes with Tab, recalls with Up, Ctrl-C stops monitor, and plugs USB",
  ignore: !CAN_RUN || SCRIPT === undefined,
  async fn() {
    const data = await Deno.makeTempDir({ prefix: "mungi-pty-" });
    const command = [
      quote(Deno.execPath()),
      "run",
      `--allow-read=${quote(`${ROOT},${data}`)}`,
      `--allow-write=${quote(data)}`,
      quote(`${ROOT}/mod.ts`),
      "shell",
      "--data",
      quote(data),
    ].join(" ");
    const child = new Deno.Command(SCRIPT!, {
      args: ["-qfec", command, "/dev/null"],
      cwd: ROOT,
      env: { TERM: "xterm" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 20_000);
    let raw = "";
    const decoder = new TextDecoder();
    const reading = (async () => {
      for await (const chunk of child.stdout) raw += decoder.decode(chunk, { stream: true });
    })();
    const errors = new Response(child.stderr).text();
    const writer = child.stdin.getWriter();
    const send = (s: string) => writer.write(new TextEncoder().encode(s));
    const text = (): string => stripAnsiCode(raw);
    const lines = () => text().split(/\r*\n/).map((l) => l.replace(/\r/g, "").trim());
    const addressLines = () => lines().filter((l) => l === ADDRESS_LINE).length;
    const waitFor = (what: string, ok: () => boolean, ms = 5_000) =>
      waitUntil(ok, what, { timeoutMs: ms, everyMs: 25 }).catch((error) => {
        throw new Error(`${(error as Error).message}; the terminal showed:\n${text()}`);
      });
    try {
      await waitFor("the prompt", () => text().includes("mungi> "), 10_000);

      // Tab completes a command: "hel" alone would be an unknown command.
      await send("hel");
      await sleep(300);
      await send("\t");
      await waitFor("help completed", () => text().includes("mungi> help"));
      await send("\r");
      await waitFor("the help table", () => text().includes('Type "help <command>" for details.'));
      assert(!text().includes("unknown command"), text());

      // Tab completes a name from the name service.
      await send("lookup svc/na");
      await sleep(300);
      await send("\t");
      await waitFor("the name completed", () => text().includes("lookup svc/naming"));
      await send("\r");
      await waitFor("the address", () => addressLines() === 1);

      // Up recalls the previous command.
      await send("\x1b[A");
      await sleep(300);
      await send("\r");
      await waitFor("the recalled command's output", () => addressLines() === 2);

      // Ctrl-C stops monitor, not the shell.
      await send("monitor\r");
      await waitFor("monitor", () => text().includes("monitoring kernel events; Ctrl-C to stop"));
      await sleep(200);
      await send("\x03");
      await waitFor("monitor stopped", () => /monitor interrupted after \d+\.\d s/.test(text()));
      await send("lookup svc/naming\r");
      await waitFor("the shell still answering", () => addressLines() === 3);

      // Tab completes the bus and the model of plug; a keyboard plugged, a background keys
      // client prints what type types while the prompt is back, and unplugging ends it.
      await send("plug u");
      await sleep(300);
      await send("\t");
      await waitFor("the bus completed", () => text().includes("mungi> plug usb"));
      await send(" 1 k");
      await sleep(300);
      await send("\t");
      await waitFor("the model completed", () => text().includes("plug usb 1 keyboard"));
      await send("\r");
      await waitFor("the keyboard", () => /usb1: keyboard is dev\/usb1 at 0x/.test(text()));
      await send("keys dev/usb1 &\r");
      await waitFor("keys listening", () => text().includes("listening to dev/usb1"));
      await send('type dev/usb1 "typed on usb1\\n"\r');
      await waitFor("the line typed", () => lines().includes("dev/usb1: typed on usb1"));
      await send("unplug usb 1\r");
      await waitFor("keys ended", () => text().includes("dev/usb1 was unplugged"));
      await waitFor("the job done", () => text().includes("[1] done  keys dev/usb1"));

      if (!Deno.noColor) assert(raw.includes("\x1b[1m"), "colour on a terminal");
      await send("exit\r");
      const status = await Promise.race([child.status, sleep(5_000).then(() => undefined)]);
      assertEquals(status?.code, 0, `exit status; stderr: ${await errors}`);
      const history = (await Deno.readTextFile(`${data}/history`)).split("\n");
      assertEquals(history.slice(0, 3), ["help", "lookup svc/naming", "lookup svc/naming"]);
    } finally {
      clearTimeout(killer);
      await writer.close().catch(() => {});
      try {
        child.kill("SIGKILL");
      } catch {
        // exited
      }
      await child.status;
      await reading;
      await errors;
      await Deno.remove(data, { recursive: true });
    }
  },
});
