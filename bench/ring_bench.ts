/**
 * Kernel <-> driver host message path: round-trip latency and throughput between the main thread
 * and a permission-less worker, over the shared-memory rings (`kernel/ring.ts`) and, for
 * comparison, over postMessage. Prints a table.
 *
 *     deno run --allow-read bench/ring_bench.ts [--quick]
 *
 * The worker is the echo server of the ring tests (`tests/fixtures/ring_echo_worker.ts`).
 * Messages look like kernel calls: `{ t: "call", id, iface: "IBlock", method: "read", args }`.
 *
 * @module
 */

import {
  type Channel,
  createChannel,
  Endpoint,
  type MessageCodec,
  VALUE_CODEC,
} from "../kernel/ring.ts";
import { WIRE_CODEC } from "../kernel/hosts/wire.ts";
import { tableLines } from "./table.ts";

const quick = Deno.args.includes("--quick");
const ROUND_TRIPS = quick ? 5_000 : 20_000;
const ECHOES = quick ? 50_000 : 200_000;
const SINKS = quick ? 200_000 : 1_000_000;
const IN_FLIGHT = 256;

interface Row {
  test: string;
  n: number;
  median?: number;
  p99?: number;
  rate?: number;
}

function call(id: number): unknown {
  return { t: "call", id, iface: "IBlock", method: "read", args: [id, 8] };
}

function idOf(message: unknown): number {
  return (message as { id: number }).id;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function latencyRow(test: string, samples: number[]): Row {
  samples.sort((a, b) => a - b);
  const total = samples.reduce((a, b) => a + b, 0);
  return {
    test,
    n: samples.length,
    median: percentile(samples, 0.5) * 1000,
    p99: percentile(samples, 0.99) * 1000,
    rate: samples.length / total * 1000,
  };
}

function spawn(): Worker {
  const worker = new Worker(new URL("../tests/fixtures/ring_echo_worker.ts", import.meta.url), {
    type: "module",
    deno: { permissions: "none" },
  });
  worker.onerror = (event) => {
    event.preventDefault();
    console.error("worker error:", event.message);
  };
  return worker;
}

function control(worker: Worker, message: unknown, reply: string): Promise<void> {
  return new Promise((resolve) => {
    worker.onmessage = (event) => {
      if (event.data?.t === reply) resolve();
    };
    worker.postMessage(message);
  });
}

async function open(worker: Worker, spinMicros: number): Promise<Channel> {
  const channel = createChannel(1 << 16);
  await control(worker, { t: "open", channel, spinMicros }, "opened");
  return channel;
}

async function postMessagePingPong(worker: Worker, n: number): Promise<Row> {
  const samples: number[] = [];
  let t0 = 0;
  await new Promise<void>((resolve) => {
    worker.onmessage = (event) => {
      samples.push(performance.now() - t0);
      if (samples.length === n) return resolve();
      t0 = performance.now();
      worker.postMessage(call(idOf(event.data) + 1));
    };
    t0 = performance.now();
    worker.postMessage(call(0));
  });
  return latencyRow("postMessage ping-pong", samples);
}

async function postMessageWindow(worker: Worker, n: number): Promise<Row> {
  let sent = 0;
  let got = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    worker.onmessage = () => {
      if (++got === n) return resolve();
      if (sent < n) worker.postMessage(call(sent++));
    };
    while (sent < IN_FLIGHT) worker.postMessage(call(sent++));
  });
  const ms = performance.now() - t0;
  return { test: `postMessage echo, ${IN_FLIGHT} in flight`, n, rate: n / ms * 1000 };
}

async function ringPingPong(worker: Worker, n: number, spinMicros: number): Promise<Row> {
  const channel = await open(worker, spinMicros);
  const kernel = new Endpoint(channel, "kernel", { spinMicros });
  const samples: number[] = [];
  let t0 = 0;
  let loop: Promise<void> | undefined;
  await new Promise<void>((resolve, reject) => {
    loop = kernel.start((message) => {
      samples.push(performance.now() - t0);
      if (samples.length === n) return resolve();
      t0 = performance.now();
      kernel.send(call(idOf(message) + 1));
      kernel.flush();
    });
    loop.catch(reject);
    t0 = performance.now();
    kernel.send(call(0));
    kernel.flush();
  });
  kernel.stop();
  await loop;
  await control(worker, { t: "close" }, "closed");
  const how = spinMicros > 0 ? `both spin ${spinMicros} us` : "both sleep (no spin)";
  return latencyRow(`ring ping-pong, ${how}`, samples);
}

async function ringWindow(worker: Worker, n: number): Promise<Row> {
  const channel = await open(worker, 50);
  const kernel = new Endpoint(channel, "kernel");
  let sent = 0;
  let got = 0;
  let loop: Promise<void> | undefined;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    loop = kernel.start((message) => {
      if (idOf(message) !== got) reject(new Error(`reply ${idOf(message)} out of order`));
      if (++got === n) return resolve();
      if (sent < n) kernel.send(call(sent++));
    });
    loop.catch(reject);
    while (sent < IN_FLIGHT) kernel.send(call(sent++));
  });
  const ms = performance.now() - t0;
  kernel.stop();
  await loop;
  await control(worker, { t: "close" }, "closed");
  return { test: `ring echo, ${IN_FLIGHT} in flight`, n, rate: n / ms * 1000 };
}

async function ringSink(worker: Worker, n: number): Promise<Row> {
  const channel = await open(worker, 50);
  const kernel = new Endpoint(channel, "kernel");
  const sink = { t: "sink", id: 0, iface: "IBlock", method: "read", args: [0, 8] };
  let loop: Promise<void> | undefined;
  const t0 = performance.now();
  const count = await new Promise<number>((resolve, reject) => {
    loop = kernel.start((message) => resolve((message as { n: number }).n));
    loop.catch(reject);
    for (let i = 0; i < n; i++) {
      sink.id = i;
      sink.args[0] = i;
      kernel.send(sink);
    }
    kernel.send({ t: "count" });
  });
  const ms = performance.now() - t0;
  kernel.stop();
  await loop;
  await control(worker, { t: "close" }, "closed");
  if (count !== n) throw new Error(`worker counted ${count} of ${n} messages`);
  return { test: "ring one-way stream (send loop)", n, rate: n / ms * 1000 };
}

function fmt(x: number | undefined, digits: number): string {
  return x === undefined ? "-" : x.toFixed(digits);
}

function printTable(rows: Row[]): void {
  const head = ["test", "n", "median us", "p99 us", "msgs/s"];
  const body = rows.map((r) => [
    r.test,
    String(r.n),
    fmt(r.median, 2),
    fmt(r.p99, 2),
    r.rate === undefined ? "-" : Math.round(r.rate).toLocaleString("en-US"),
  ]);
  for (const line of tableLines(head, body)) console.log(line);
}

/** The ring messages of one 512 B read on the worker host (`kernel/hosts/protocol.ts`). */
const CAP = { address: 0x1234_5678_9abc_def0n, password: 0xfedc_ba98_7654_3210n };
const READ_MESSAGES: unknown[] = [
  {
    t: "call",
    id: 9,
    o: 0,
    i: "IBlock",
    m: "read",
    a: [CAP, { blocks: [5n], addr: 0x1000n, buffer: CAP }],
  },
  { t: "req", id: 4, op: "map", a: [CAP, true, 0x1000n, 512], g: true },
  { t: "reply", id: 4, ok: true, v: 0x4000_0000n },
  { t: "mmio_wb", b: Array.from({ length: 26 }, (_, i) => i * 0x0101), g: 4 },
  { t: "irq", line: 14 },
  { t: "result", id: 9, ok: true, v: 9 },
  { t: "mmio_wb", b: [0x0201_0002, 6, 0x7f00_0000, 14] },
  { t: "req", id: 0, op: "invoke", a: [CAP, "INotify.complete", [9, 0]] },
  { t: "req", id: 5, op: "unmap", a: [0x4000_0000n] },
  { t: "reply", id: 5, ok: true, v: undefined },
];

/** Encodes and decodes the messages of one read, `n` times: µs per read. */
function codecCost(test: string, codec: MessageCodec, n: number): Row {
  const encoder = codec.encoder(4096);
  const decoder = codec.decoder();
  const target = new Uint8Array(4096);
  const once = () => {
    for (const message of READ_MESSAGES) {
      const length = encoder.encodeRange(message, target, 0, target.length);
      decoder.decode(target, 0, length);
    }
  };
  for (let i = 0; i < 2000; i++) once(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    for (let k = 0; k < 10; k++) once();
    samples.push((performance.now() - t0) / 10);
  }
  return latencyRow(test, samples);
}

const worker = spawn();
await control(worker, { t: "hello" }, "hello");
const rows: Row[] = [];
await postMessagePingPong(worker, 1000); // warm-up
rows.push(await postMessagePingPong(worker, ROUND_TRIPS));
await ringPingPong(worker, 1000, 50); // warm-up
rows.push(await ringPingPong(worker, ROUND_TRIPS, 50));
rows.push(await ringPingPong(worker, Math.min(ROUND_TRIPS, 5000), 0));
rows.push(await postMessageWindow(worker, ECHOES / 4));
rows.push(await ringWindow(worker, ECHOES));
rows.push(await ringSink(worker, SINKS));
worker.terminate();
rows.push(codecCost("codec: a 512 B read's 10 messages, values", VALUE_CODEC, ROUND_TRIPS / 4));
rows.push(codecCost("codec: a 512 B read's 10 messages, wire", WIRE_CODEC, ROUND_TRIPS / 4));
console.log(
  `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${navigator.hardwareConcurrency} CPUs`,
);
console.log("rate = round trips/s for echoes, messages/s for the one-way stream\n");
printTable(rows);
