import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import process from "node:process";
import { type Channel, createChannel, Endpoint, PollGate } from "../kernel/ring.ts";

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

Deno.test("a message too large for the ring is refused by send even behind a full ring, and the endpoint goes on", async () => {
  const [kernel, worker] = ends(createChannel(4096));
  // Fill the ring (nobody reads yet): the next sends queue.
  let sent = 0;
  while (kernel.queued === 0) kernel.send(sent++);
  assertThrows(() => kernel.send(new Uint8Array(3000)), RangeError, "maximum is 2044");
  kernel.send("after");
  const got: unknown[] = [];
  const all = new Promise<void>((resolve) => {
    worker.start((msg) => {
      got.push(msg);
      if (msg === "after") resolve();
    });
  });
  await within(2000, all);
  await within(2000, kernel.flushed());
  worker.stop();
  assertEquals(got, [...Array.from({ length: sent }, (_, i) => i), "after"]);
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

Deno.test("poll tokens: at most `limit` holders, and a stopped holder's token is reclaimed once", () => {
  const tokens = PollGate.createTokens();
  const out = () => new Int32Array(tokens)[0];
  const owners = [0, 1, 2].map(() => new Int32Array(new SharedArrayBuffer(4)));
  const gates = owners.map((owner) => new PollGate(tokens, 2, owner));
  assertEquals(gates.map((g) => g.tryAcquire()), [true, true, false]);
  assertEquals(gates[0]!.tryAcquire(), true, "a holder keeps its token");
  assertEquals(out(), 2);
  // The thread of gate 1 is killed while it holds its token: its host reclaims it, once.
  PollGate.reclaim(tokens, owners[1]!);
  PollGate.reclaim(tokens, owners[1]!);
  gates[1]!.release();
  assertEquals(out(), 1);
  assertEquals(gates[2]!.tryAcquire(), true);
  gates[0]!.release();
  gates[2]!.release();
  assertEquals(out(), 0);
  assertEquals(gates.map((g) => g.holding), [false, false, false]);
});

Deno.test("an endpoint without a poll token polls briefly and gives back the token it held", async () => {
  const channel = createChannel(4096);
  const tokens = PollGate.createTokens();
  const held = new PollGate(tokens, 1, new Int32Array(new SharedArrayBuffer(4)));
  assert(held.tryAcquire());
  const owner = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Endpoint(channel, "worker", {
    spinMicros: 1_000_000,
    idleSpinMicros: 1_000_000,
    pollGate: new PollGate(tokens, 1, owner),
    shortPollMicros: 50,
  });
  const got: unknown[] = [];
  const loop = worker.start((m) => got.push(m));
  const kernel = new Endpoint(channel, "kernel");
  kernel.send("first");
  // With no token it cannot poll for a second: it sleeps (the process stays almost idle), and
  // still gets the next message.
  await new Promise((r) => setTimeout(r, 5));
  const cpu = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 40));
  const used = process.cpuUsage(cpu);
  assert(used.user + used.system < 20_000, `polled without a token: ${used.user} µs of CPU`);
  assertEquals(owner[0], 0);
  held.release();
  kernel.send("second");
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(got, ["first", "second"]);
  assertEquals(owner[0], 1, "now it holds the free token while it polls");
  worker.stop();
  await loop;
  assertEquals(owner[0], 0, "and gives it back when it stops");
  assertEquals(new Int32Array(tokens)[0], 0);
});

Deno.test("a loop polling with nothing expected lets the thread's timers run every idleYieldMs", async () => {
  /** Timer callbacks that ran in 100 ms while the loop lingered, polling, after one message. */
  const ticksWhileLingering = async (idleYieldMs?: number) => {
    const channel = createChannel(4096);
    const loop = new Endpoint(channel, "kernel", {
      spinMicros: 0,
      idleSpinMicros: 300_000, // polls 300 ms after its last message
      expecting: () => false,
      ...(idleYieldMs === undefined ? {} : { idleYieldMs }),
    });
    const peer = new Endpoint(channel, "worker", options);
    const handled = Promise.withResolvers<void>();
    const done = loop.start(() => handled.resolve());
    peer.send("go");
    await handled.promise;
    let ticks = 0;
    const end = performance.now() + 100;
    await new Promise<void>((resolve) => {
      const tick = () => {
        ticks++;
        if (performance.now() < end) setTimeout(tick, 0);
        else resolve();
      };
      setTimeout(tick, 0);
    });
    loop.stop();
    await within(2000, done);
    return ticks;
  };
  const often = await ticksWhileLingering(); // the default: every 0.25 ms
  const seldom = await ticksWhileLingering(25);
  assert(seldom <= 8, `a yield every 25 ms let ${seldom} timers run in 100 ms`);
  assert(often >= 15 && often > 2 * seldom, `every 0.25 ms: ${often}, every 25 ms: ${seldom}`);
});
