/**
 * `monitor`: a live stream of what happens in the kernel, in the manner of `udevadm monitor`:
 * devices plugged, enumerated and removed, drivers loaded, names bound and unbound, faults and
 * denied accesses as they happen, and interrupts summarised once a second per line (a disk at
 * full speed raises thousands). Runs until Ctrl-C, or for `--for MS`.
 *
 * @module
 */

import type { KernelEvent } from "../kernel/event_log.ts";
import type { LineStats } from "../kernel/interrupt_router.ts";
import { formatAddress } from "../kernel/address.ts";
import type { Styles } from "../shell/style.ts";
import { jsonReplacer, type ShellContext, type ShellPlugin, UsageError } from "../shell/shell.ts";
import { expectArgs, parseOptions, parseWhole, plural } from "./_util.ts";

/** Event kinds the monitor does not print one by one. */
const SUMMARISED = new Set([
  "irq", // counted per line, summarised each second
  "irq.coalesced",
  "name.bind", // the name service's own watch reports every binding
  "name.unbind",
]);

/** How often interrupt counts are summarised. */
export const IRQ_SUMMARY_MS = 1000;

function clock(): string {
  const d = new Date();
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${
    p(d.getMilliseconds(), 3)
  }`;
}

function paintKind(kind: string, style: Styles): string {
  const k = kind.padEnd(17);
  if (/fault|error/.test(kind)) return style.red(k);
  if (/denied/.test(kind)) return style.yellow(k);
  if (/plug$|enumerate|bind$|rebind|load|create/.test(kind)) {
    return kind.includes("unplug") || kind.includes("unbind") ? style.magenta(k) : style.green(k);
  }
  if (kind.startsWith("irq")) return style.cyan(k);
  return k;
}

/** One printed line: `12:00:01.234  kind  source: message`. */
interface Line {
  readonly kind: string;
  readonly source: string;
  readonly message: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

type Counts = Pick<LineStats, "raised" | "delivered" | "coalesced" | "rateLimited">;

/**
 * The monitor plugin.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [monitorPlugin()] });
 * ```
 */
export function monitorPlugin(): ShellPlugin {
  return {
    name: "monitor",
    commands: [{
      name: "monitor",
      summary:
        "live kernel events (plug, bind, faults, denied, interrupts per second) until Ctrl-C",
      usage: "monitor [--for MS] [--json]",
      details: [
        "Prints devices plugged, enumerated and removed, drivers loaded, names bound and",
        "unbound, faults and denied accesses as they happen; interrupts are summarised once a",
        "second per line (raised, delivered, coalesced, rate-limited).",
        "--for MS  stop after MS milliseconds (needed in scripts and piped input, where",
        "          there is no Ctrl-C); interactively Ctrl-C stops it and the shell goes on",
        "--json    one JSON object per line: { at, kind, source, message, data }",
      ],
      example: "monitor --for 5000",
      signalsReady: true,
      async run(args, ctx) {
        const { positional, values } = parseOptions(args, { values: { "--for": "MS" } });
        expectArgs(positional, 0, 0, "monitor [--for MS]");
        const forText = values["--for"];
        const forMs = forText === undefined
          ? undefined
          : Number(parseWhole(forText, "--for MS", { min: 1n, max: 86_400_000n }));
        if (forMs === undefined && !ctx.shell.interactive) {
          throw new UsageError(
            "outside an interactive shell monitor needs --for MS: nothing can press Ctrl-C to stop it",
          );
        }
        return await monitor(ctx, forMs);
      },
    }],
  };
}

async function monitor(ctx: ShellContext, forMs: number | undefined): Promise<string | void> {
  const { kernel, style } = ctx;
  const started = performance.now();
  let count = 0;
  const emit = (line: Line) => {
    count++;
    const at = clock();
    if (ctx.json) {
      ctx.print(JSON.stringify({ at, ...line }, jsonReplacer));
    } else {
      ctx.print(
        `${style.dim(at)}  ${paintKind(line.kind, style)} ${
          style.bold(line.source)
        }: ${line.message}`,
      );
    }
  };
  if (!ctx.json) {
    ctx.print(
      style.dim(
        forMs === undefined
          ? "monitoring kernel events; Ctrl-C to stop"
          : `monitoring kernel events for ${forMs} ms`,
      ),
    );
  }

  const stopEvents = kernel.events.subscribe((e: KernelEvent) => {
    if (SUMMARISED.has(e.kind)) return;
    emit({
      kind: e.kind,
      source: e.source,
      message: e.message,
      ...(e.data === undefined ? {} : { data: e.data }),
    });
  });
  const watch = kernel.names.watch("", (n) => {
    const message = n.kind === "bind"
      ? `${n.name} -> ${formatAddress(n.address)}`
      : n.kind === "rebind"
      ? `${n.name} -> ${formatAddress(n.address)} (was ${formatAddress(n.previous)})`
      : `${n.name} unbound (was ${formatAddress(n.previous)})`;
    emit({ kind: `name.${n.kind}`, source: n.name, message });
  });

  // Interrupts: counts per line, diffed once a second.
  let router: { stats(): LineStats[] } | undefined;
  try {
    router = kernel.drivers.router;
  } catch {
    router = undefined; // a kernel without a machine has no interrupts
  }
  const last = new Map<number, Counts>();
  for (const l of router?.stats() ?? []) last.set(l.line, l);
  let lastTick = performance.now();
  const summarise = () => {
    const now = performance.now();
    const seconds = (now - lastTick) / 1000;
    lastTick = now;
    for (const l of router?.stats() ?? []) {
      const before = last.get(l.line) ?? { raised: 0, delivered: 0, coalesced: 0, rateLimited: 0 };
      last.set(l.line, l);
      const d = {
        raised: l.raised - before.raised,
        delivered: l.delivered - before.delivered,
        coalesced: l.coalesced - before.coalesced,
        rateLimited: l.rateLimited - before.rateLimited,
      };
      if (d.raised === 0 && d.delivered === 0) continue;
      emit({
        kind: "irq",
        source: l.owner === "-" ? l.device : l.owner,
        message:
          `line ${l.line}: ${d.raised} raised, ${d.delivered} delivered, ${d.coalesced} coalesced, ${d.rateLimited} rate-limited in ${
            seconds.toFixed(1)
          } s`,
        data: { line: l.line, ...d, seconds: Math.round(seconds * 1000) / 1000 },
      });
    }
  };
  const ticker = setInterval(summarise, IRQ_SUMMARY_MS);
  ctx.ready(); // subscribed: a background monitor sees what the next line does

  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) return resolve();
      ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      if (forMs !== undefined) timer = setTimeout(resolve, forMs);
    });
  } finally {
    clearInterval(ticker);
    if (timer !== undefined) clearTimeout(timer);
    summarise(); // what came since the last whole second
    stopEvents();
    watch.close();
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const why = ctx.signal.aborted ? "interrupted" : "stopped";
  if (ctx.json) {
    ctx.print(
      JSON.stringify({ kind: "monitor.end", events: count, seconds: Number(seconds), why }),
    );
    return;
  }
  return style.dim(`monitor ${why} after ${seconds} s: ${plural(count, "event")}`);
}
