import { assertEquals, assertThrows } from "@std/assert";
import { IdTable } from "../kernel/id_table.ts";

Deno.test("IdTable keeps entries by id through set, get, take and drain", () => {
  const t = new IdTable<string>(8);
  for (let id = 1; id <= 6; id++) t.set(id, `v${id}`);
  assertEquals(t.size, 6);
  assertEquals(t.get(3), "v3");
  assertEquals(t.has(4), true);
  assertEquals(t.take(3), "v3");
  assertEquals(t.take(3), undefined);
  assertEquals(t.get(3), undefined);
  assertEquals(t.size, 5);
  t.set(4, "four");
  assertEquals(t.size, 5, "replacing an entry does not add one");
  assertEquals(t.get(4), "four");
  assertEquals(t.drain().sort(), ["four", "v1", "v2", "v5", "v6"]);
  assertEquals(t.size, 0);
  assertEquals(t.get(1), undefined);
});

Deno.test("IdTable grows when live ids share a slot, and loses none", () => {
  const t = new IdTable<number>(8);
  // 0, 8, 16, ... all share slot 0 of eight slots.
  for (let i = 0; i < 100; i++) t.set(i * 8, i);
  assertEquals(t.size, 100);
  for (let i = 0; i < 100; i++) assertEquals(t.get(i * 8), i);
  for (let i = 0; i < 100; i += 2) assertEquals(t.take(i * 8), i);
  assertEquals(t.size, 50);
  for (let i = 1; i < 100; i += 2) assertEquals(t.get(i * 8), i);
});

Deno.test("IdTable matches a Map under a long random workload of sequential and odd ids", () => {
  const t = new IdTable<number>();
  const m = new Map<number, number>();
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  let next = 1;
  for (let step = 0; step < 20000; step++) {
    const r = rand() % 10;
    if (r < 4) {
      const id = next++;
      t.set(id, step);
      m.set(id, step);
    } else if (r < 5) {
      // Ids that collide in any table up to 2^16 slots: only the overflow map can hold them.
      const id = (rand() % 4) * 2 ** 32 + 7;
      t.set(id, step);
      m.set(id, step);
    } else {
      const keys = [...m.keys()];
      const id = keys.length > 0 && r < 9 ? keys[rand() % keys.length]! : next + 5;
      assertEquals(t.take(id), m.get(id));
      m.delete(id);
    }
    assertEquals(t.size, m.size);
  }
  for (const [id, v] of m) assertEquals(t.get(id), v);
  assertEquals(t.drain().sort((a, b) => a - b), [...m.values()].sort((a, b) => a - b));
});

Deno.test("IdTable refuses ids that are not non-negative safe integers", () => {
  const t = new IdTable<string>();
  for (const id of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    assertThrows(() => t.set(id, "x"), RangeError, "non-negative integer");
  }
  assertEquals(t.size, 0);
  assertEquals(t.get(-1), undefined);
  assertEquals(t.take(1.5), undefined);
});

Deno.test("IdTable: looking up or taking an id that was never set changes nothing", () => {
  const t = new IdTable<string>(8);
  t.set(3, "three");
  for (const id of [-1, 0, 7, 11, 2 ** 40 + 3, NaN]) {
    assertEquals(t.has(id), false);
    assertEquals(t.get(id), undefined);
    assertEquals(t.take(id), undefined);
  }
  assertEquals(t.size, 1);
  assertEquals(t.get(3), "three");
});
