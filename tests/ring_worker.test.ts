import { assertEquals } from "@std/assert";
import { createChannel, Endpoint } from "../kernel/ring.ts";

const MESSAGES = 100_000;
const IN_FLIGHT = 512;
const TIMEOUT_MS = 20_000;

function call(id: number): unknown {
  return {
    t: "call",
    id,
    iface: "IBlock",
    method: "read",
    args: [{ blocks: [id, id + 1], addr: BigInt(id) << 12n }, `#${id}`],
  };
}

function reply(worker: Worker, want: string): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (event) => {
      if (event.data?.t === want) resolve();
      else if (event.data?.t === "error") reject(new Error(`worker: ${event.data.message}`));
    };
  });
}

Deno.test({
  name: `a permission-less worker echoes ${MESSAGES} messages through the rings, in order`,
  async fn() {
    const worker = new Worker(new URL("./fixtures/ring_echo_worker.ts", import.meta.url), {
      type: "module",
      deno: { permissions: "none" },
    });
    let failure: ((e: Error) => void) | undefined;
    const failed = new Promise<never>((_, reject) => (failure = reject));
    worker.onerror = (event) => {
      event.preventDefault();
      failure?.(new Error(`worker error: ${event.message}`));
    };
    const timer = setTimeout(
      () => failure?.(new Error(`timed out after ${TIMEOUT_MS} ms`)),
      TIMEOUT_MS,
    );
    const channel = createChannel(1 << 16);
    const kernel = new Endpoint(channel, "kernel");
    let loop: Promise<void> | undefined;
    try {
      const opened = reply(worker, "opened");
      worker.postMessage({ t: "open", channel, spinMicros: 50 });
      await Promise.race([opened, failed]);

      let sent = 0;
      let received = 0;
      const done = new Promise<void>((resolve, reject) => {
        loop = kernel.start((message) => {
          const want = call(received);
          try {
            assertEquals(message, want);
          } catch (e) {
            reject(e);
            return;
          }
          received++;
          if (received === MESSAGES) resolve();
          else if (sent < MESSAGES) kernel.send(call(sent++));
        });
        loop.catch(reject);
        while (sent < IN_FLIGHT) kernel.send(call(sent++));
      });
      await Promise.race([done, failed]);
      assertEquals(received, MESSAGES);
      assertEquals(kernel.queued, 0);

      const closed = reply(worker, "closed");
      worker.postMessage({ t: "close" });
      await Promise.race([closed, failed]);
    } finally {
      clearTimeout(timer);
      kernel.stop();
      await loop?.catch(() => {});
      worker.terminate();
    }
  },
});
