import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/ingest/byte-budget.ts';

/** Resolves on the next macrotask: every grant that can happen has happened. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

function track(budget: ByteBudget, bytes: number, log: string[], name: string) {
  let release: (() => void) | undefined;
  void budget.acquire(bytes).then((r) => {
    log.push(name);
    release = r;
  });
  return () => release!();
}

describe('ByteBudget', () => {
  it('grants what fits at once and makes the rest wait, in arrival order', async () => {
    const budget = new ByteBudget(10);
    const granted: string[] = [];
    const a = track(budget, 6, granted, 'a');
    const b = track(budget, 6, granted, 'b');
    const c = track(budget, 2, granted, 'c');
    await settle();
    // c would fit beside a, but b arrived first: no overtaking, so a big body is not starved.
    expect(granted).toEqual(['a']);
    expect(budget.used).toBe(6);
    a();
    await settle();
    expect(granted).toEqual(['a', 'b', 'c']);
    expect(budget.used).toBe(8);
    b();
    c();
    expect(budget.used).toBe(0);
  });

  it('runs a body larger than the whole budget alone rather than never', async () => {
    const budget = new ByteBudget(10);
    const granted: string[] = [];
    const small = track(budget, 3, granted, 'small');
    const huge = track(budget, 25, granted, 'huge');
    const after = track(budget, 1, granted, 'after');
    await settle();
    expect(granted).toEqual(['small']);
    small();
    await settle();
    expect(granted).toEqual(['small', 'huge']);
    huge();
    await settle();
    expect(granted).toEqual(['small', 'huge', 'after']);
    after();
    expect(budget.used).toBe(0);
  });

  it('ignores a second release and refuses a capacity that is not positive', async () => {
    const budget = new ByteBudget(5);
    const release = await budget.acquire(4);
    release();
    release();
    expect(budget.used).toBe(0);
    expect(() => new ByteBudget(0)).toThrow('capacity must be positive');
  });
});
