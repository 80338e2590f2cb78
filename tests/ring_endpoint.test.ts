import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { type Channel, createChannel, Endpoint } from "../kernel/ring.ts";

// Both ends live in this thread here, so spinning could never see the peer: spinMicros 0.
const options = { spinMicros: 0 };

function ends(channel: Channel = createChannel(4096)): [Endpoint, Endpoint] {
  return [new Endpoint(channel, "kernel", options), new Endpoint(channel, "worker", options)];
}

function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

Deno.test("an endpoint refuses an unknown side", () => {
  assertThrows(
    () => new Endpoint(createChannel(4096), "driver" as "worker"),
    TypeError,
    'side must be "kernel" or "worker"',
  );
});

Deno.test("messages cross both rings in order", async () => {
  const [kernel, worker] = ends();
  const echo = worker.start((msg) => worker.send({ echo: msg }));
  const got: unknown[] = [];
  const done = new Promise<void>((resolve) => {
    kernel.start((msg) => {
      got.push(msg);
      if (got.length === 1000) resolve();
    });
  });
  for (let i = 0; i < 1000; i++) {
    kernel.send({ t: "call", id: i, iface: "IBlock", method: "read", args: [i, 8] });
  }
  await within(5000, done);
  kernel.stop();
  worker.stop();
  await echo;
  for (let i = 0; i < 1000; i++) {
    assertEquals(got[i], {
      echo: { t: "call", id: i, iface: "IBlock", method: "read", args: [i, 8] },
    });
  }
});

Deno.test("a full ring queues locally and delivers everything in order later", async () => {
  const [kernel, worker] = ends(createChannel(4096));
  const n = 20_000;
  for (let i = 0; i < n; i++) kernel.send({ seq: i, pad: "x".repeat(i % 40) });
  assert(kernel.queued > n - 200, `queued ${kernel.queued}`);
  const got: number[] = [];
  const all = new Promise<void>((resolve) => {
    worker.start((msg) => {
      got.push((msg as { seq: number }).seq);
      if (got.length === n) resolve();
    });
  });
  await within(10_000, Promise.all([all, kernel.flushed()]));
  worker.stop();
  assertEquals(kernel.queued, 0);
  for (let i = 0; i < n; i++) assert(got[i] === i, `message ${i} came as ${got[i]}`);
});

Deno.test("sends made while a backlog exists queue behind it, never ahead", async () => {
  const [kernel, worker] = ends(createChannel(4096));
  let i = 0;
  while (kernel.queued === 0) kernel.send(i++);
  const got: unknown[] = [];
  const all = new Promise<void>((resolve) => {
    worker.start((msg) => {
      got.push(msg);
      if (got.length === i + 100) resolve();
    });
  });
  // Keep sending while the backlog drains.
  for (let k = 0; k < 100; k++) {
    kernel.send(i + k);
    if (k % 10 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  await within(5000, all);
  worker.stop();
  assertEquals(got, Array.from({ length: i + 100 }, (_, k) => k));
});

Deno.test("send throws at once for a value the codec refuses, and queues nothing", () => {
  const [kernel] = ends();
  assertThrows(() => kernel.send({ t: "call", args: [() => 1] }), TypeError, "value.args[0]");
  assertThrows(() => kernel.send(new Uint8Array(5000)), RangeError, "maximum");
  assertEquals(kernel.queued, 0);
});

Deno.test("a value refused while a backlog exists throws and leaves the backlog intact", () => {
  const [kernel] = ends();
  while (kernel.queued === 0) kernel.send("fill");
  assertThrows(() => kernel.send({ bad: Symbol() }), TypeError, "value.bad");
  assertEquals(kernel.queued, 1);
});

Deno.test("a throwing handler rejects start(); the endpoint can start again", async () => {
  const [kernel, worker] = ends();
  kernel.send("ok");
  kernel.send("boom");
  kernel.send("after");
  kernel.flush();
  const seen: unknown[] = [];
  await assertRejects(
    () =>
      within(
        2000,
        worker.start((msg) => {
          seen.push(msg);
          if (msg === "boom") throw new Error("handler failed");
        }),
      ),
    Error,
    "handler failed",
  );
  const rest = new Promise<void>((resolve) => worker.start((msg) => (seen.push(msg), resolve())));
  await within(2000, rest);
  worker.stop();
  assertEquals(seen, ["ok", "boom", "after"]);
});

Deno.test("stop() inside the handler leaves later messages for the next start()", async () => {
  const [kernel, worker] = ends();
  for (let i = 0; i < 5; i++) kernel.send(i);
  kernel.flush();
  const seen: unknown[] = [];
  await within(
    2000,
    worker.start((msg) => {
      seen.push(msg);
      if (msg === 1) worker.stop();
    }),
  );
  assertEquals(seen, [0, 1]);
  const rest = new Promise<void>((resolve) =>
    worker.start((msg) => {
      seen.push(msg);
      if (msg === 4) resolve();
    })
  );
  await within(2000, rest);
  worker.stop();
  assertEquals(seen, [0, 1, 2, 3, 4]);
});

Deno.test("start() twice at once is refused", async () => {
  const [, worker] = ends();
  const loop = worker.start(() => {});
  await assertRejects(() => worker.start(() => {}), TypeError, "already running");
  worker.stop();
  await loop;
});

Deno.test("stop() wakes a sleeping loop promptly", async () => {
  const [, worker] = ends();
  const loop = worker.start(() => {});
  await new Promise((r) => setTimeout(r, 10));
  const t0 = performance.now();
  worker.stop();
  await within(1000, loop);
  assert(performance.now() - t0 < 100);
});

Deno.test("large messages near the ring's limit pass through the endpoint", async () => {
  const [kernel, worker] = ends(createChannel(8192));
  const sizes = [4000, 1, 4080, 3000, 4000, 17, 4080];
  const got: number[] = [];
  const all = new Promise<void>((resolve) => {
    worker.start((msg) => {
      got.push((msg as Uint8Array).length);
      if (got.length === sizes.length) resolve();
    });
  });
  for (const n of sizes) kernel.send(new Uint8Array(n).fill(n & 255));
  await within(2000, all);
  worker.stop();
  assertEquals(got, sizes);
});

Deno.test("a peer that corrupts the ring makes flushed() and later sends fail", async () => {
  const channel = createChannel(4096);
  const kernel = new Endpoint(channel, "kernel", options);
  while (kernel.queued === 0) kernel.send("fill");
  const waiting = kernel.flushed();
  // The "worker" lies about how far it has read (the head word is at byte 256).
  const header = new Int32Array(channel.toWorker, 0, 160);
  Atomics.store(header, 64, 1 << 20);
  Atomics.notify(header, 64);
  await assertRejects(() => within(2000, waiting), RangeError, "Ring corrupted");
  assertThrows(() => kernel.send("more"), RangeError, "Ring corrupted");
});
